"""What only the etcd store promises: a key root, lease reuse, endpoints that fail over, a fast clear
error when etcd is unreachable, watches that survive an etcd restart, and watches on a member that
serves no HTTP gateway (the store's watches use it when it is there)."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio

from kubelite.controlplane.storage import EtcdEndpoint, EtcdStore, EventType, StorageUnavailable

if TYPE_CHECKING:
    from conftest import EtcdProcess  # the fixture's type, for readers; never imported at run time

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]
rpc = pytest.importorskip("aetcd.rpc", reason="the etcd store needs kubelite[etcd] (aetcd)")


@pytest_asyncio.fixture(loop_scope="session")
async def raw_kv(etcd_server: EtcdProcess) -> AsyncIterator[rpc.KVStub]:
    """A plain gRPC client, to look at what the store wrote."""
    channel = rpc.insecure_channel(str(etcd_server.endpoint))
    try:
        yield rpc.KVStub(channel)
    finally:
        await channel.close()


def unique_root() -> str:
    return f"/kltest-{uuid.uuid4().hex[:12]}"


async def test_keys_are_stored_under_the_root_and_roots_are_isolated(etcd_server: EtcdProcess,
                                                                      raw_kv: rpc.KVStub) -> None:
    root_a, root_b = unique_root(), unique_root()
    a = EtcdStore([etcd_server.endpoint], root=root_a)
    b = EtcdStore([etcd_server.endpoint], root=root_b + "/")  # a trailing slash is normalised away
    await a.start()
    await b.start()
    try:
        kv = await a.create("/pods/ns/x", b"v")
        raw = await raw_kv.Range(rpc.RangeRequest(key=f"{root_a}/pods/ns/x".encode()))
        assert [(r.value, r.mod_revision) for r in raw.kvs] == [(b"v", kv.mod_revision)]
        assert (await b.list("/")).items == []
        assert await b.get("/pods/ns/x") is None
        await b.create("/pods/ns/x", b"other")  # same key, other root: no conflict
        assert await a.get("/pods/ns/x") == kv
    finally:
        await a.close()
        await b.close()


async def test_keys_written_together_with_one_ttl_share_a_lease(etcd_server: EtcdProcess,
                                                                 raw_kv: rpc.KVStub) -> None:
    root = unique_root()
    store = EtcdStore([etcd_server.endpoint], root=root)
    await store.start()
    try:
        for i in range(3):
            await store.create(f"/events/ns/e{i}", b"", ttl_seconds=3600)
        await store.create("/events/ns/other", b"", ttl_seconds=60)
        await store.create("/events/ns/none", b"")
        raw = await raw_kv.Range(rpc.RangeRequest(key=f"{root}/events/ns/".encode(),
                                                  range_end=f"{root}/events/ns0".encode()))
        leases = {r.key.decode().rsplit("/", 1)[1]: r.lease for r in raw.kvs}
        assert leases["e0"] == leases["e1"] == leases["e2"] != 0
        assert leases["other"] not in (0, leases["e0"])
        assert leases["none"] == 0
    finally:
        await store.close()


async def test_an_unreachable_etcd_fails_start_quickly_and_clearly(free_loopback_port: int) -> None:
    port = free_loopback_port
    store = EtcdStore([EtcdEndpoint("127.0.0.1", port)], dial_timeout=2)
    started = time.monotonic()
    with pytest.raises(StorageUnavailable, match=re.escape(f"127.0.0.1:{port}")):
        await store.start()
    assert time.monotonic() - started < 5
    await store.close()


async def test_several_endpoints_route_around_a_dead_one(etcd_server: EtcdProcess,
                                                        free_loopback_port: int) -> None:
    dead = EtcdEndpoint("127.0.0.1", free_loopback_port)
    store = EtcdStore([dead, etcd_server.endpoint], root=unique_root())
    await store.start()
    try:
        for i in range(10):  # round robin would hit the dead address about half the time
            kv = await store.create(f"/rr/{i}", b"")
            assert await store.get(f"/rr/{i}") == kv
    finally:
        await store.close()


async def test_a_watch_and_a_write_survive_an_etcd_restart(etcd_member: EtcdProcess) -> None:
    store = EtcdStore([etcd_member.endpoint], root=unique_root(), request_timeout=20)
    await store.start()
    watch = store.watch("/r/", after_revision=await store.current_revision())
    try:
        before = await store.create("/r/before", b"")
        assert (await asyncio.wait_for(anext(watch), 10)).kv == before
        pending_event = asyncio.create_task(anext(watch))
        etcd_member.stop()
        # A write issued while etcd is down waits for it (it is not sent before a connection exists).
        pending_write = asyncio.create_task(store.create("/r/during", b""))
        await asyncio.sleep(0.5)
        assert not pending_write.done()
        etcd_member.start()
        during = await asyncio.wait_for(pending_write, 20)
        event = await asyncio.wait_for(pending_event, 20)
        assert (event.type, event.kv) == (EventType.PUT, during)
        after = await store.create("/r/after", b"")
        assert (await asyncio.wait_for(anext(watch), 10)).kv == after
    finally:
        await watch.aclose()
        await store.close()


async def test_requests_fail_with_storage_unavailable_when_etcd_stays_down(etcd_member: EtcdProcess) -> None:
    store = EtcdStore([etcd_member.endpoint], root=unique_root(), request_timeout=1.5)
    await store.start()
    try:
        etcd_member.stop()
        with pytest.raises(StorageUnavailable, match=re.escape("etcd at 127.0.0.1")):
            await store.get("/x/a")
        with pytest.raises(StorageUnavailable):
            await store.create("/x/a", b"")
        watch = store.watch("/x/", after_revision=1)
        with pytest.raises(StorageUnavailable):
            await asyncio.wait_for(anext(watch), 10)
    finally:
        await store.close()


async def test_watch_works_on_a_member_without_the_http_gateway(etcd_member_without_gateway: EtcdProcess) -> None:
    store = EtcdStore([etcd_member_without_gateway.endpoint], root=unique_root())
    try:
        await store.start()
        watch = store.watch("/g/", after_revision=await store.current_revision())
        try:
            created = await store.create("/g/a", b"one")
            updated = await store.update("/g/a", b"two", expected_revision=created.mod_revision)
            deleted = await store.delete("/g/a")
            events = [await asyncio.wait_for(anext(watch), 10) for _ in range(3)]
            assert [(e.type, e.kv) for e in events] == [
                (EventType.PUT, created), (EventType.PUT, updated), (EventType.DELETE, deleted)]
            assert events[1].prev_kv == created and events[2].prev_kv == updated
        finally:
            await watch.aclose()
    finally:
        await store.close()
