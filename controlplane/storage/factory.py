"""``--datastore-endpoint`` -> a :class:`Store`: the one place that knows the endpoint syntax.

Design
------
Accepted forms (k3s users know the last one)::

    sqlite                                  <data-dir>/server/db/state.db (the default)
    sqlite:///ABSOLUTE/PATH.db              that file
    etcd://HOST[:PORT][,HOST[:PORT]...][/PREFIX]
    http://HOST[:PORT][,http://HOST[:PORT]...][/PREFIX]

The etcd port defaults to 2379 and the key prefix to ``/registry``; a prefix lets several clusters
share one etcd. ``https://`` (TLS to etcd) is refused with a clear message until client certificates
are plumbed through. Parsing is a pure function (:func:`parse_endpoint`) so the CLI can validate a
flag before starting anything; :func:`open_store` returns an unstarted store (``await store.start()``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from kubelite.controlplane.storage.compaction import DEFAULT_COMPACTION, CompactionPolicy
from kubelite.controlplane.storage.etcd import DEFAULT_PORT, DEFAULT_ROOT, EtcdEndpoint, EtcdStore, check_root
from kubelite.controlplane.storage.interface import Store
from kubelite.controlplane.storage.sqlite import SqliteStore

ACCEPTED_FORMS = (
    "'sqlite' (the file <data-dir>/server/db/state.db), 'sqlite:///ABSOLUTE/PATH.db', "
    "'etcd://HOST[:PORT][,HOST[:PORT]...][/PREFIX]' or 'http://HOST[:PORT][,http://HOST[:PORT]...][/PREFIX]'"
)
SQLITE_RELATIVE_PATH = Path("server") / "db" / "state.db"

_HOST = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?))"
                   r"(?::(?P<port>[0-9]{1,5}))?$")


@dataclass(frozen=True, slots=True)
class SqliteTarget:
    path: Path


@dataclass(frozen=True, slots=True)
class EtcdTarget:
    endpoints: tuple[EtcdEndpoint, ...]
    root: str = DEFAULT_ROOT


def _bad(endpoint: str, why: str) -> ValueError:
    return ValueError(f"invalid datastore endpoint {endpoint!r}: {why}; accepted forms: {ACCEPTED_FORMS}")


def _parse_host(endpoint: str, text: str) -> EtcdEndpoint:
    match = _HOST.match(text)
    if not match:
        raise _bad(endpoint, f"{text!r} is not HOST, HOST:PORT or [IPv6]:PORT")
    port = int(match["port"]) if match["port"] else DEFAULT_PORT
    if not 1 <= port <= 65535:
        raise _bad(endpoint, f"port {port} in {text!r} is not between 1 and 65535")
    host = match["v6"] or match["name"]
    return EtcdEndpoint(host=host, port=port)


def _parse_etcd(endpoint: str, scheme: str, rest: str) -> EtcdTarget:
    items: list[str] = []
    for i, text in enumerate(rest.split(",")):
        host = text
        if i > 0 and "://" in text:  # k3s style: every host is a URL
            other, _, host = text.partition("://")
            if other + "://" != scheme:
                raise _bad(endpoint, f"all hosts must use {scheme!r}, found {other + '://'!r}")
        items.append(host)
    root = DEFAULT_ROOT
    last, slash, path = items[-1].partition("/")
    if slash:
        try:
            root = check_root("/" + path) or DEFAULT_ROOT
        except ValueError as exc:
            raise _bad(endpoint, str(exc)) from None
        items[-1] = last
    hosts: list[EtcdEndpoint] = []
    for item in items:
        if "/" in item:
            raise _bad(endpoint, f"only the last host may be followed by a /PREFIX, found {item!r}")
        if not item:
            raise _bad(endpoint, "an etcd host is empty")
        hosts.append(_parse_host(endpoint, item))
    if len(set(hosts)) != len(hosts):
        raise _bad(endpoint, "an etcd host is listed twice")
    return EtcdTarget(endpoints=tuple(hosts), root=root)


def parse_endpoint(endpoint: str, *, data_dir: Path) -> SqliteTarget | EtcdTarget:
    """Where the datastore is, from a ``--datastore-endpoint`` value; ``ValueError`` if malformed."""
    text = endpoint.strip()
    if text == "sqlite":
        return SqliteTarget(path=Path(data_dir) / SQLITE_RELATIVE_PATH)
    if text.startswith("sqlite://"):
        path = text[len("sqlite://"):]
        if not path.startswith("/") or path == "/":
            raise _bad(endpoint, "a sqlite path must be absolute: 'sqlite://' then '/PATH' (three slashes)")
        if path.endswith("/"):
            raise _bad(endpoint, "a sqlite path must name a file, not a directory")
        return SqliteTarget(path=Path(path))
    if text.startswith("https://"):
        raise _bad(endpoint, "TLS connections to etcd (https://) are not supported yet; "
                             "use etcd:// or http:// to an etcd listening on a trusted network")
    for scheme in ("etcd://", "http://"):
        if text.startswith(scheme):
            return _parse_etcd(endpoint, scheme, text[len(scheme):])
    raise _bad(endpoint, "unknown datastore")


def open_store(
    endpoint: str, *, data_dir: Path, compaction: CompactionPolicy | None = DEFAULT_COMPACTION
) -> Store:
    """An unstarted store for ``endpoint`` (``await store.start()`` opens it).

    ``compaction`` runs periodically in the store (default: every 5 minutes keep the last 1000
    revisions and 5 minutes of history); ``None`` leaves history to an external compactor.
    """
    target = parse_endpoint(endpoint, data_dir=data_dir)
    if isinstance(target, SqliteTarget):
        return SqliteStore(target.path, compaction=compaction)
    return EtcdStore(target.endpoints, root=target.root, compaction=compaction)
