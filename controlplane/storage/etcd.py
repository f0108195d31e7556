"""The distributed store: etcd v3 over gRPC, through aetcd's bindings of the etcd API.

Design
------
Every operation is one etcd request, so etcd's own guarantees (linearizable reads and writes, one
global revision) are ours, and several kubelite servers can share one etcd cluster:

* keys live under a root prefix (default ``/registry``, like kube-apiserver): ``/pods/ns/a`` is stored
  as ``/registry/pods/ns/a``; different roots let several clusters share one etcd;
* ``create`` is a txn ``create_revision(key) == 0 -> put``; ``update`` and conditional ``delete`` are txns
  ``mod_revision(key) == expected -> put/delete`` whose failure branch reads the key, so a failed
  precondition says whether the key is missing or which revision it has (one round trip);
* TTL keys are attached to leases. Like kube-apiserver's lease manager, one lease is reused for keys
  written close together with the same TTL (granted a little longer: 5% of the TTL, at most 60 s), so
  a burst of Events does not create one lease per Event;
* ``list`` is a Range with ``range_end``/``limit``/``revision``; ``watch`` opens one stream per watch
  from ``after_revision + 1`` with ``prev_kv`` (DELETE events then carry the deleted value), and
  re-opens it from the last delivered revision if the connection drops (another member can serve it);
* etcd's "required revision has been compacted" becomes :class:`CompactedError`.

aetcd's ``Client`` takes a single host and its range helpers have no ``limit``/``revision``, so this
module uses aetcd's lower layer, ``aetcd.rpc``: the generated etcd v3 messages and stubs plus the
grpc.aio channel and error types it re-exports; nothing is re-declared here. Several endpoints become
one channel with round-robin load balancing, which routes around a dead member by itself. aetcd is
imported lazily: SQLite users need not install it.

Watches are read through etcd's HTTP/JSON gateway (``POST /v3/watch`` on the client port, the same
Watch API as JSON lines; etcd serves it by default), not through grpc.aio. Why: grpc.aio hands over one
message per ``read()``, and each read completes through the event loop, so a watch advances by about one
event per loop iteration. The API server's loop is busy with many requests per iteration during a create
storm, so the watch fell behind the writes (delivery p50 0.6-5 s at 200 creates/s, while etcd itself
delivered to an idle process within 50 ms). Over HTTP, each loop iteration reads whatever bytes arrived,
often hundreds of events, and decodes them in one go (orjson): delivery then keeps up with the writes
(see controlplane/README.md for the figures). An etcd started with ``--enable-grpc-gateway=false``
answers 404: the store then falls back to a gRPC stream for its watches.

Requests wait for a connection (``wait_for_ready``) up to the request timeout, so a member restart
is ridden out rather than failed; they are not sent before a connection exists, so that is safe for
writes too. Reads are also retried once when a connection breaks mid-request; writes are not (they
may have been applied): they raise :class:`StorageUnavailable` and the caller decides.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import socket
import time
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from kubelite.controlplane.storage.compaction import CompactionPolicy, PeriodicCompactor
from kubelite.controlplane.storage.interface import (
    CompactedError,
    ConflictError,
    EventType,
    FutureRevisionError,
    KeyExistsError,
    KeyNotFoundError,
    KeyValue,
    ListResult,
    StorageError,
    StorageUnavailable,
    WatchEvent,
)
from kubelite.controlplane.storage.keys import (
    check_expected_revision,
    check_key,
    check_prefix,
    check_revision,
    check_start_key,
    check_ttl,
    check_value,
    prefix_end_bytes,
)

DEFAULT_PORT = 2379
DEFAULT_ROOT = "/registry"
# kube-apiserver's lease manager: reuse a lease for 5% of its TTL, at most 60 s, at most 1000 keys.
LEASE_REUSE_FRACTION = 0.05
LEASE_REUSE_MAX_SECONDS = 60
LEASE_MAX_KEYS = 1000
_MAX_MESSAGE = 2**31 - 1  # lists of many objects exceed gRPC's 4 MiB default (kube-apiserver: MaxInt32)
GATEWAY_WATCH_PATH = "/v3/watch"
# Like the gRPC channel's keepalive: notice a member that vanished under a quiet watch connection.
_KEEPALIVE_IDLE, _KEEPALIVE_INTERVAL, _KEEPALIVE_COUNT = 30, 10, 3


@dataclass(frozen=True, slots=True)
class EtcdEndpoint:
    host: str
    port: int = DEFAULT_PORT

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def check_root(root: str) -> str:
    """Normalise the key root: ``""`` (none) or ``/name[/name...]`` without a trailing slash."""
    root = root.rstrip("/")
    if root and not root.startswith("/"):
        raise ValueError(f"etcd key prefix {root!r} must start with '/', e.g. '/registry'")
    if "\x00" in root:
        raise ValueError(f"etcd key prefix {root!r} must not contain NUL characters")
    return root


def grpc_target(endpoints: Sequence[EtcdEndpoint], resolved: Sequence[Sequence[str]] | None = None) -> str:
    """The gRPC target for the endpoints.

    One endpoint: ``host:port`` (gRPC resolves names itself). Several: the ``ipv4:``/``ipv6:`` address
    list gRPC balances over; ``resolved[i]`` are the addresses of ``endpoints[i]`` (from getaddrinfo).
    """
    if not endpoints:
        raise ValueError("at least one etcd endpoint is needed")
    if len(endpoints) == 1:
        return str(endpoints[0])
    if resolved is None or len(resolved) != len(endpoints):
        raise ValueError("several etcd endpoints need their resolved addresses")
    v4: list[str] = []
    v6: list[str] = []
    for ep, addrs in zip(endpoints, resolved, strict=True):
        ips = [ipaddress.ip_address(a) for a in addrs]
        four = [ip for ip in ips if ip.version == 4]
        if four:
            v4.extend(f"{ip}:{ep.port}" for ip in four)
        elif ips:
            v6.extend(f"[{ip}]:{ep.port}" for ip in ips)
        else:
            raise ValueError(f"etcd endpoint {ep} has no address")
    if v4 and v6:
        raise ValueError(
            "etcd endpoints mix IPv4-only and IPv6-only hosts; gRPC cannot balance across both: "
            + ", ".join(map(str, endpoints))
        )
    addrs = v4 or v6
    unique = list(dict.fromkeys(addrs))
    return ("ipv4:" if v4 else "ipv6:") + ",".join(unique)


def _resolve(endpoints: Sequence[EtcdEndpoint]) -> list[list[str]]:
    out: list[list[str]] = []
    for ep in endpoints:
        try:
            infos = socket.getaddrinfo(ep.host, ep.port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise StorageUnavailable(f"cannot resolve etcd endpoint {ep}: {exc}") from None
        out.append(list(dict.fromkeys(str(info[4][0]) for info in infos)))
    return out


class _LeaseManager:
    """Hands out lease IDs for TTL writes, reusing one lease for close-together writes."""

    def __init__(self, store: EtcdStore) -> None:
        self._store = store
        self._lock = asyncio.Lock()
        self._lease_id = 0
        self._expires = 0.0  # time.monotonic() when the cached lease runs out
        self._attached = 0

    def forget(self) -> None:
        self._lease_id = 0

    async def lease_for(self, ttl: int) -> int:
        async with self._lock:
            now = time.monotonic()
            reuse = min(LEASE_REUSE_MAX_SECONDS, int(LEASE_REUSE_FRACTION * ttl))
            # The cached lease fits if it outlives this key's TTL, but by no more than `reuse`.
            fits = now + ttl < self._expires <= now + ttl + reuse
            if self._lease_id and fits and self._attached < LEASE_MAX_KEYS:
                self._attached += 1
                return self._lease_id
            granted = ttl + reuse
            rpc = self._store._rpc
            resp = await self._store._call("lease grant", self._store._lease.LeaseGrant,
                                           rpc.LeaseGrantRequest(TTL=granted), retry=False)
            self._lease_id = int(resp.ID)
            self._expires = now + int(resp.TTL)
            self._attached = 1
            return self._lease_id


class _WatchStream:
    """One etcd watch stream; a pump task reads its responses into a small queue.

    Why a pump: cancelling a task while it awaits a gRPC read leaves that read pending inside gRPC,
    which completes later on the task's loop (asyncio logs "Event loop is closed" once that loop is
    gone). Consumers of a watch get cancelled all the time, so only the pump reads, and it is ended by
    cancelling the *call*, never by cancelling the pump while it reads.
    """

    ENDED = object()  # the call was cancelled (by close())

    def __init__(self, rpc: Any, stub: Any, create: Any) -> None:
        self._rpc = rpc
        self.call = stub.Watch()
        # Bounded, so a consumer that stops reading stops the pump and gRPC flow control pushes back
        # on etcd instead of this process buffering without limit.
        self._queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=64)
        self._pump = asyncio.get_running_loop().create_task(self._run(create), name="kubelite-etcd-watch")

    async def _run(self, create: Any) -> None:
        try:
            await self.call.write(self._rpc.WatchRequest(create_request=create))
            while True:
                resp = await self.call.read()
                await self._queue.put(resp)
                if not isinstance(resp, self._rpc.WatchResponse):  # grpc's EOF: the server ended it
                    return
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # close() gave up waiting while the pump sat on a full queue
            self._finish(self.ENDED)
        except self._rpc.AioRpcError as exc:
            self._finish(exc)
        except Exception as exc:  # anything else must still wake the consumer, which then re-opens
            self._finish(StorageUnavailable(f"etcd watch stream failed: {exc!r}"))

    def _finish(self, item: object) -> None:
        # The stream is dead: responses not yet consumed may be dropped to make room, because the
        # watch re-opens from the last revision it delivered.
        while True:
            try:
                self._queue.put_nowait(item)
                return
            except asyncio.QueueFull:
                self._queue.get_nowait()

    async def next(self) -> Any:
        """The next response, :data:`ENDED`, or grpc's EOF; raises the stream's gRPC error."""
        item = await self._queue.get()
        if isinstance(item, BaseException):
            raise item
        return item

    async def close(self) -> None:
        self.call.cancel()
        if not self._pump.done():
            done, _ = await asyncio.wait([self._pump], timeout=2.0)
            if not done:
                self._pump.cancel()
        # Return only once gRPC has finished the call, so close() leaves no stream half-ended.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.call.code(), 2.0)


class EtcdStore:
    """:class:`~kubelite.controlplane.storage.interface.Store` on an etcd v3 cluster (see module doc)."""

    def __init__(
        self,
        endpoints: Sequence[EtcdEndpoint],
        *,
        root: str = DEFAULT_ROOT,
        compaction: CompactionPolicy | None = None,
        request_timeout: float = 15.0,
        dial_timeout: float = 5.0,
    ) -> None:
        if not endpoints:
            raise ValueError("at least one etcd endpoint is needed")
        self.endpoints = tuple(endpoints)
        self.root = check_root(root)
        self._root_bytes = self.root.encode()
        self._compaction = compaction
        self._compactor: PeriodicCompactor | None = None
        self._timeout = request_timeout
        self._dial_timeout = dial_timeout
        self._rpc: Any = None
        self._channel: Any = None
        self._kv: Any = None
        self._lease: Any = None
        self._watch: Any = None
        self._leases = _LeaseManager(self)
        self._streams: set[_WatchStream] = set()
        self._http: aiohttp.ClientSession | None = None
        self._gateway = True  # False once a member said it serves no HTTP gateway (404)
        self._gateway_responses: set[aiohttp.ClientResponse] = set()
        self._watch_endpoint = 0  # which member the next gateway watch asks; moves on after a failure
        self._started = False
        self._closed = False

    def __repr__(self) -> str:
        return f"EtcdStore({', '.join(map(str, self.endpoints))}, root={self.root!r})"

    # -- lifecycle

    async def start(self) -> None:
        if self._started:
            raise RuntimeError(f"{self!r} is already started")
        try:
            from aetcd import rpc
        except ImportError as exc:
            raise StorageUnavailable(
                f"the etcd datastore needs the 'aetcd' package ({exc}); install kubelite[etcd]"
            ) from None
        self._rpc = rpc
        resolved = None
        if len(self.endpoints) > 1:
            resolved = await asyncio.to_thread(_resolve, self.endpoints)
        target = grpc_target(self.endpoints, resolved)
        options: list[tuple[str, int | str]] = [
            ("grpc.max_receive_message_length", _MAX_MESSAGE),
            ("grpc.max_send_message_length", _MAX_MESSAGE),
            # Detect a dead member under a long-lived watch stream. etcd refuses pings more often than
            # every 5 s and pings without an active stream, so stay well within that.
            ("grpc.keepalive_time_ms", 30_000),
            ("grpc.keepalive_timeout_ms", 10_000),
            # gRPC's default reconnect back-off grows to 120 s; a restarted member should be used
            # again within a couple of seconds.
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 2_000),
        ]
        if len(self.endpoints) > 1:
            options.append(("grpc.lb_policy_name", "round_robin"))
        self._channel = rpc.insecure_channel(target, options=options)
        self._kv = rpc.KVStub(self._channel)
        self._lease = rpc.LeaseStub(self._channel)
        self._watch = rpc.WatchStub(self._channel)
        # No total or read timeout: a watch is quiet for as long as nothing changes.
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, connect=self._dial_timeout),
                                           connector=aiohttp.TCPConnector(limit=0))
        self._started = True
        try:
            await self._wait_reachable()
        except StorageError:
            await self._channel.close()
            await self._http.close()
            self._closed = True
            raise
        if self._compaction is not None:
            self._compactor = PeriodicCompactor(self, self._compaction)
            self._compactor.start()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._compactor is not None:
            await self._compactor.stop()
        for stream in list(self._streams):
            stream.call.cancel()  # running watches see this and end cleanly
        for response in list(self._gateway_responses):
            response.close()  # so do gateway watches (their read ends)
        if self._http is not None:
            await self._http.close()
        if self._channel is not None:
            await self._channel.close()

    async def _wait_reachable(self) -> None:
        """Succeed once etcd answers; retry refused connections until the dial timeout, then say why."""
        deadline = time.monotonic() + self._dial_timeout
        request = self._rpc.RangeRequest(key=self._root_bytes or b"/", count_only=True)
        last = "no answer"
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                await self._kv.Range(request, timeout=left, wait_for_ready=False)
                return
            except self._rpc.AioRpcError as exc:
                if exc.code() not in (self._rpc.StatusCode.UNAVAILABLE, self._rpc.StatusCode.DEADLINE_EXCEEDED):
                    raise _RpcFailure("health check", exc.code().name, exc.details() or "") from None
                last = exc.details() or exc.code().name
            await asyncio.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
        where = ", ".join(map(str, self.endpoints))
        raise StorageUnavailable(f"cannot reach etcd at {where} within {self._dial_timeout:g} s: {last}")

    def _require_open(self) -> None:
        if self._closed:
            raise StorageUnavailable(f"{self!r} is closed")
        if not self._started:
            raise StorageUnavailable(f"{self!r} is not started; call start() first")

    # -- plumbing

    def _full(self, key: str) -> bytes:
        return self._root_bytes + key.encode()

    def _kv_from(self, kv: Any) -> KeyValue:
        return KeyValue(bytes(kv.key)[len(self._root_bytes):].decode(), bytes(kv.value),
                        int(kv.create_revision), int(kv.mod_revision))

    def _unavailable(self, what: str, detail: str) -> StorageUnavailable:
        return StorageUnavailable(
            f"etcd at {', '.join(map(str, self.endpoints))} is unavailable ({what}): {detail}"
        )

    async def _call(self, what: str, method: Any, request: Any, *, retry: bool) -> Any:
        """One unary RPC with the request timeout; gRPC failures become storage errors.

        ``wait_for_ready``: while no member is reachable the request waits (up to the timeout) instead
        of failing at once; it is not sent before a connection exists, so even writes may wait safely.
        Only ``retry`` requests (reads) are repeated after a connection broke mid-request.
        """
        self._require_open()
        codes = self._rpc.StatusCode
        attempts = 2 if retry else 1
        for attempt in range(attempts):
            try:
                return await method(request, timeout=self._timeout, wait_for_ready=True)
            except self._rpc.AioRpcError as exc:
                code, detail = exc.code(), exc.details() or ""
                if code == codes.UNAVAILABLE and attempt + 1 < attempts:
                    continue
                if code == codes.UNAVAILABLE:
                    raise self._unavailable(what, detail) from None
                if code == codes.DEADLINE_EXCEEDED:
                    raise self._unavailable(what, f"no answer within {self._timeout:g} s") from None
                if code == codes.CANCELLED and self._closed:
                    raise StorageUnavailable(f"{self!r} is closed") from None
                raise _RpcFailure(what, code.name, detail) from None
        raise AssertionError("unreachable")

    async def _range_header(self) -> int:
        request = self._rpc.RangeRequest(key=self._root_bytes or b"/", count_only=True)
        resp = await self._call("read revision", self._kv.Range, request, retry=True)
        return int(resp.header.revision)

    async def _compacted_revision(self) -> int:
        """etcd's compaction revision (0 if unknown): a watch from revision 1 is refused with it."""
        probe = self._rpc.WatchCreateRequest(key=self._root_bytes + b"\x00compaction-probe", start_revision=1)
        stream = _WatchStream(self._rpc, self._watch, probe)
        try:
            async with asyncio.timeout(2.0):
                while True:
                    resp = await stream.next()
                    if not isinstance(resp, self._rpc.WatchResponse):  # ended
                        return 0
                    if resp.compact_revision:
                        return int(resp.compact_revision)
        except (TimeoutError, self._rpc.AioRpcError):
            return 0
        finally:
            await stream.close()

    async def _revision_error(self, failure: _RpcFailure, requested: int) -> StorageError:
        if "compacted" in failure.detail:
            return CompactedError(requested, await self._compacted_revision())
        if "future revision" in failure.detail:
            return FutureRevisionError(requested, await self._range_header())
        return failure

    # -- reads

    async def get(self, key: str) -> KeyValue | None:
        check_key(key)
        request = self._rpc.RangeRequest(key=self._full(key))
        resp = await self._call("get", self._kv.Range, request, retry=True)
        return self._kv_from(resp.kvs[0]) if resp.kvs else None

    async def list(
        self, prefix: str, *, start_key: str | None = None, limit: int = 0, revision: int = 0
    ) -> ListResult:
        check_prefix(prefix)
        if start_key is not None:
            check_start_key(start_key)
        check_revision(limit, what="limit")
        check_revision(revision, what="revision")
        low = self._full(start_key if start_key is not None and start_key > prefix else prefix)
        request = self._rpc.RangeRequest(
            key=low, range_end=prefix_end_bytes(self._full(prefix)), limit=limit, revision=revision
        )
        try:
            resp = await self._call("list", self._kv.Range, request, retry=True)
        except _RpcFailure as failure:
            raise await self._revision_error(failure, revision) from None
        # With an explicit revision the header carries the *current* revision, not the one read.
        return ListResult(
            items=[self._kv_from(kv) for kv in resp.kvs],
            revision=revision or int(resp.header.revision),
            more=bool(resp.more),
        )

    async def count(self, prefix: str) -> int:
        check_prefix(prefix)
        full = self._full(prefix)
        request = self._rpc.RangeRequest(key=full, range_end=prefix_end_bytes(full), count_only=True)
        resp = await self._call("count", self._kv.Range, request, retry=True)
        return int(resp.count)

    async def current_revision(self) -> int:
        return await self._range_header()

    # -- writes

    def _compare(self, full: bytes, target: str, result: str, value: int) -> Any:
        compare = self._rpc.Compare
        field = {"CREATE": "create_revision", "MOD": "mod_revision"}[target]
        return compare(key=full, target=getattr(compare, target), result=getattr(compare, result),
                       **{field: value})

    async def _txn(self, what: str, compare: Sequence[Any], success: Sequence[Any],
                   failure: Sequence[Any]) -> Any:
        request = self._rpc.TxnRequest(compare=compare, success=success, failure=failure)
        return await self._call(what, self._kv.Txn, request, retry=False)

    async def _put_txn(self, what: str, key: str, value: bytes, ttl: int | None, compare: Sequence[Any],
                       *, read_on_failure: bool) -> Any:
        rpc = self._rpc
        full = self._full(key)
        failure = [rpc.RequestOp(request_range=rpc.RangeRequest(key=full))] if read_on_failure else []
        for attempt in range(2):
            lease = await self._leases.lease_for(ttl) if ttl else 0
            put = rpc.RequestOp(request_put=rpc.PutRequest(key=full, value=value, lease=lease, prev_kv=True))
            try:
                return await self._txn(what, compare, [put], failure)
            except _RpcFailure as exc:
                # A cached lease can vanish (revoked, or expired while etcd was down): get a fresh one.
                if ttl and "lease not found" in exc.detail and attempt == 0:
                    self._leases.forget()
                    continue
                raise
        raise AssertionError("unreachable")

    async def create(self, key: str, value: bytes, *, ttl_seconds: int | None = None) -> KeyValue:
        check_key(key)
        check_value(key, value)
        check_ttl(ttl_seconds)
        self._require_open()
        compare = [self._compare(self._full(key), "CREATE", "EQUAL", 0)]
        resp = await self._put_txn("create", key, value, ttl_seconds, compare, read_on_failure=False)
        if not resp.succeeded:
            raise KeyExistsError(key)
        rev = int(resp.header.revision)
        return KeyValue(key, value, rev, rev)

    async def update(
        self, key: str, value: bytes, *, expected_revision: int, ttl_seconds: int | None = None
    ) -> KeyValue:
        check_key(key)
        check_value(key, value)
        check_expected_revision(key, expected_revision)
        check_ttl(ttl_seconds)
        self._require_open()
        compare = [self._compare(self._full(key), "MOD", "EQUAL", expected_revision)]
        resp = await self._put_txn("update", key, value, ttl_seconds, compare, read_on_failure=True)
        if not resp.succeeded:
            raise self._precondition_error(key, expected_revision, resp)
        prev = resp.responses[0].response_put.prev_kv
        return KeyValue(key, value, int(prev.create_revision), int(resp.header.revision))

    async def delete(self, key: str, *, expected_revision: int | None = None) -> KeyValue:
        check_key(key)
        if expected_revision is not None:
            check_expected_revision(key, expected_revision)
        self._require_open()
        rpc = self._rpc
        full = self._full(key)
        if expected_revision is None:
            compare = [self._compare(full, "CREATE", "GREATER", 0)]  # the key exists
        else:
            compare = [self._compare(full, "MOD", "EQUAL", expected_revision)]
        resp = await self._txn(
            "delete", compare,
            [rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=full, prev_kv=True))],
            [rpc.RequestOp(request_range=rpc.RangeRequest(key=full))],
        )
        if not resp.succeeded:
            raise self._precondition_error(key, expected_revision or 0, resp)
        prev = resp.responses[0].response_delete_range.prev_kvs[0]
        return KeyValue(key, bytes(prev.value), int(prev.create_revision), int(resp.header.revision))

    @staticmethod
    def _precondition_error(key: str, expected: int, resp: Any) -> StorageError:
        kvs = resp.responses[0].response_range.kvs
        if not kvs:
            return KeyNotFoundError(key)
        return ConflictError(key, expected, int(kvs[0].mod_revision))

    async def compact(self, revision: int) -> None:
        check_revision(revision, what="compaction revision")
        try:
            await self._call("compact", self._kv.Compact, self._rpc.CompactionRequest(revision=revision),
                             retry=True)
        except _RpcFailure as failure:
            if "compacted" in failure.detail:
                return  # already compacted that far: idempotent, like the SQLite store
            raise await self._revision_error(failure, revision) from None

    # -- watch

    def _watch_event(self, deleted: bool, kv: KeyValue, prev: KeyValue | None) -> WatchEvent:
        if deleted:
            # etcd's DELETE kv has only key and mod_revision; the deleted state is in prev_kv (absent
            # only when that version was already compacted).
            value, create = (prev.value, prev.create_revision) if prev else (b"", 0)
            return WatchEvent(EventType.DELETE, KeyValue(kv.key, value, create, kv.mod_revision), prev)
        return WatchEvent(EventType.PUT, kv, prev)

    def _event(self, ev: Any) -> WatchEvent:
        prev = self._kv_from(ev.prev_kv) if ev.HasField("prev_kv") else None
        return self._watch_event(ev.type == self._rpc.Event.DELETE, self._kv_from(ev.kv), prev)

    def _gateway_kv(self, kv: dict[str, Any]) -> KeyValue:
        # the gateway's JSON: bytes as base64, int64 as strings, zero values left out
        key = base64.b64decode(kv["key"])[len(self._root_bytes):].decode()
        return KeyValue(key, base64.b64decode(kv.get("value", "")), int(kv.get("create_revision", 0)),
                        int(kv.get("mod_revision", 0)))

    def _gateway_response(self, message: Any) -> _WatchResponse:
        result = message.get("result") if isinstance(message, dict) else None
        if not isinstance(result, dict):
            detail = message.get("message") or message.get("error") if isinstance(message, dict) else message
            raise self._unavailable("watch", f"etcd's gateway answered: {detail}")
        events = []
        for ev in result.get("events") or ():
            prev = self._gateway_kv(ev["prev_kv"]) if "prev_kv" in ev else None
            events.append(self._watch_event(ev.get("type") == "DELETE", self._gateway_kv(ev["kv"]), prev))
        return _WatchResponse(bool(result.get("created")), bool(result.get("canceled")),
                              str(result.get("cancel_reason", "")), int(result.get("compact_revision", 0)), events)

    async def _gateway_watch(self, full: bytes, pos: int) -> AsyncGenerator[Sequence[_WatchResponse], None]:
        """The responses of one watch over etcd's HTTP gateway, as many per batch as arrived together.

        Ends without a batch when the member has no gateway (the store then uses gRPC) or the store
        closed; a broken connection raises :class:`StorageUnavailable` (the caller re-opens).
        """
        assert self._http is not None
        endpoint = self.endpoints[self._watch_endpoint % len(self.endpoints)]
        host = f"[{endpoint.host}]" if ":" in endpoint.host else endpoint.host
        create = {"key": base64.b64encode(full).decode(),
                  "range_end": base64.b64encode(prefix_end_bytes(full)).decode(),
                  "start_revision": pos + 1, "prev_kv": True}
        try:
            response = await self._http.post(f"http://{host}:{endpoint.port}{GATEWAY_WATCH_PATH}",
                                             data=orjson.dumps({"create_request": create}),
                                             headers={"Content-Type": "application/json"})
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            if self._closed:
                return
            self._watch_endpoint += 1  # the next attempt asks another member, if there is one
            raise self._unavailable("watch", str(exc) or type(exc).__name__) from None
        self._gateway_responses.add(response)
        try:
            if response.status == 404:
                self._gateway = False
                return
            if response.status != 200:
                text = (await response.text(errors="replace"))[:200]
                raise self._unavailable("watch", f"HTTP {response.status} from etcd's gateway: {text}")
            _set_keepalive(response)
            parts: list[bytes] = []  # a line not complete yet (a big batch spans many reads)
            async for chunk in response.content.iter_any():
                if b"\n" not in chunk:
                    parts.append(chunk)
                    continue
                *lines, rest = b"".join((*parts, chunk)).split(b"\n")
                parts = [rest] if rest else []
                yield [self._gateway_response(orjson.loads(line)) for line in lines if line.strip()]
            if not self._closed:
                raise self._unavailable("watch", "the server ended the watch stream")
        except (aiohttp.ClientError, OSError) as exc:
            if self._closed:
                return
            self._watch_endpoint += 1
            raise self._unavailable("watch", str(exc) or type(exc).__name__) from None
        except orjson.JSONDecodeError as exc:
            raise self._unavailable("watch", f"etcd's gateway sent a line that is not JSON: {exc}") from None
        finally:
            self._gateway_responses.discard(response)
            response.close()

    async def _grpc_watch(self, full: bytes, pos: int) -> AsyncGenerator[Sequence[_WatchResponse], None]:
        """The responses of one watch over a gRPC stream (used when no member serves the gateway)."""
        rpc = self._rpc
        create = rpc.WatchCreateRequest(key=full, range_end=prefix_end_bytes(full), start_revision=pos + 1,
                                        prev_kv=True)
        stream = _WatchStream(rpc, self._watch, create)
        self._streams.add(stream)
        try:
            while True:
                resp = await stream.next()
                if resp is _WatchStream.ENDED:
                    if self._closed:
                        return  # close() ended the stream: end cleanly
                    raise self._unavailable("watch", "the watch stream was cancelled")
                if not isinstance(resp, rpc.WatchResponse):
                    raise self._unavailable("watch", "the server ended the watch stream")
                yield [_WatchResponse(bool(resp.created), bool(resp.canceled), str(resp.cancel_reason),
                                      int(resp.compact_revision), [self._event(ev) for ev in resp.events])]
        finally:
            self._streams.discard(stream)
            await stream.close()

    async def watch(self, prefix: str, *, after_revision: int) -> AsyncGenerator[WatchEvent, None]:
        check_prefix(prefix)
        check_revision(after_revision, what="after_revision")
        self._require_open()
        rpc = self._rpc
        full = self._full(prefix)
        pos = after_revision
        broken_since: float | None = None
        delay = 0.05
        while not self._closed:
            opened = self._gateway_watch(full, pos) if self._gateway else self._grpc_watch(full, pos)
            try:
                async with contextlib.aclosing(opened) as responses:
                    async for batch in responses:
                        for resp in batch:
                            if resp.compact_revision:
                                raise CompactedError(pos, resp.compact_revision)
                            if resp.canceled:
                                raise StorageError(f"etcd cancelled the watch of {prefix!r}: {resp.cancel_reason}")
                            if resp.created:
                                broken_since, delay = None, 0.05
                            for event in resp.events:
                                if event.revision > pos:  # never repeat an event after a re-connect
                                    yield event
                                    pos = event.revision
            except (rpc.AioRpcError, StorageUnavailable) as exc:
                if self._closed:
                    return
                # The member went away: re-open from pos (another member may serve it) until the
                # request timeout has passed without a working stream.
                now = time.monotonic()
                broken_since = broken_since or now
                if now - broken_since >= self._timeout:
                    detail = exc.details() if isinstance(exc, rpc.AioRpcError) else str(exc)
                    raise self._unavailable("watch", str(detail)) from None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)


@dataclass(frozen=True, slots=True)
class _WatchResponse:
    """What the watch loop needs of one etcd WatchResponse, whichever way it arrived."""

    created: bool
    canceled: bool
    cancel_reason: str
    compact_revision: int
    events: list[WatchEvent]


def _set_keepalive(response: aiohttp.ClientResponse) -> None:
    """TCP keepalive on a watch connection, so a member that vanished is noticed under a quiet watch."""
    connection = response.connection
    sock = connection.transport.get_extra_info("socket") if connection and connection.transport else None
    if sock is None:
        return
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, _KEEPALIVE_IDLE)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, _KEEPALIVE_INTERVAL)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, _KEEPALIVE_COUNT)


class _RpcFailure(StorageError):
    """An etcd error without a more specific storage meaning (kept for callers to refine)."""

    def __init__(self, what: str, code: str, detail: str) -> None:
        super().__init__(f"etcd {what} failed: {code}: {detail}")
        self.code = code
        self.detail = detail
