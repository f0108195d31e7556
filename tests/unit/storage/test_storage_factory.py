"""``--datastore-endpoint`` parsing: every accepted form, and a clear error for the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubelite.controlplane.storage import EtcdEndpoint, EtcdStore, SqliteStore, open_store, parse_endpoint
from kubelite.controlplane.storage.factory import ACCEPTED_FORMS, EtcdTarget, SqliteTarget

DATA = Path("/var/lib/kubelite")


@pytest.mark.parametrize(
    ("endpoint", "target"),
    [
        pytest.param("sqlite", SqliteTarget(DATA / "server/db/state.db"), id="default-sqlite"),
        pytest.param(" sqlite ", SqliteTarget(DATA / "server/db/state.db"), id="whitespace"),
        pytest.param("sqlite:///srv/k/state.db", SqliteTarget(Path("/srv/k/state.db")), id="sqlite-path"),
        pytest.param("etcd://h1", EtcdTarget((EtcdEndpoint("h1", 2379),)), id="etcd-default-port"),
        pytest.param("etcd://h1:2379,h2:12379", EtcdTarget((EtcdEndpoint("h1", 2379), EtcdEndpoint("h2", 12379))),
                     id="etcd-list"),
        pytest.param("etcd://10.0.0.1:2379/cluster-a", EtcdTarget((EtcdEndpoint("10.0.0.1", 2379),), "/cluster-a"),
                     id="etcd-prefix"),
        pytest.param("etcd://[::1]:2379,[fd00::2]", EtcdTarget((EtcdEndpoint("::1", 2379), EtcdEndpoint("fd00::2"))),
                     id="etcd-ipv6"),
        pytest.param("http://h1:2379,http://h2:2379", EtcdTarget((EtcdEndpoint("h1"), EtcdEndpoint("h2"))),
                     id="k3s-style-urls"),
        pytest.param("http://h1:2379,h2:2379/x/y/", EtcdTarget((EtcdEndpoint("h1"), EtcdEndpoint("h2")), "/x/y"),
                     id="mixed-with-prefix"),
    ],
)
def test_accepted_endpoints(endpoint: str, target: SqliteTarget | EtcdTarget) -> None:
    assert parse_endpoint(endpoint, data_dir=DATA) == target


@pytest.mark.parametrize(
    ("endpoint", "reason"),
    [
        pytest.param("mysql://u@h/db", "unknown datastore", id="other-database"),
        pytest.param("", "unknown datastore", id="empty"),
        pytest.param("sqlite://state.db", "must be absolute", id="sqlite-relative"),
        pytest.param("sqlite:///var/lib/", "must name a file", id="sqlite-directory"),
        pytest.param("https://h1:2379", "TLS connections to etcd", id="tls-not-yet"),
        pytest.param("etcd://", "host is empty", id="no-host"),
        pytest.param("etcd://h1,,h2", "host is empty", id="empty-host"),
        pytest.param("etcd://h1:0", "not between 1 and 65535", id="port-zero"),
        pytest.param("etcd://h1:70000", "not between 1 and 65535", id="port-too-big"),
        pytest.param("etcd://h1:port", "is not HOST", id="port-not-number"),
        pytest.param("etcd://h_1 x", "is not HOST", id="space"),
        pytest.param("etcd://h1/a,h2", "only the last host", id="prefix-in-middle"),
        pytest.param("etcd://h1,http://h2", "all hosts must use", id="mixed-schemes"),
        pytest.param("etcd://h1,h1:2379", "listed twice", id="duplicate"),
    ],
)
def test_rejected_endpoints_name_the_accepted_forms(endpoint: str, reason: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_endpoint(endpoint, data_dir=DATA)
    assert reason in str(err.value)
    assert ACCEPTED_FORMS in str(err.value)
    assert repr(endpoint) in str(err.value)


def test_open_store_builds_the_backend_without_starting_it(tmp_path: Path) -> None:
    sqlite = open_store("sqlite", data_dir=tmp_path)
    assert isinstance(sqlite, SqliteStore)
    assert sqlite.path == tmp_path / "server/db/state.db"
    assert not sqlite.path.exists()  # nothing touched before start()
    etcd = open_store("etcd://127.0.0.1:2379/kl", data_dir=tmp_path)
    assert isinstance(etcd, EtcdStore)
    assert (etcd.endpoints, etcd.root) == ((EtcdEndpoint("127.0.0.1", 2379),), "/kl")
