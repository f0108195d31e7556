"""host-local IPAM on a temporary directory: ranges, round robin, reuse, release, GC, exhaustion."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kubelite.cni import host_local
from kubelite.cni.spec import CNIError


def conf(tmp_path: Path, **range_: Any) -> host_local.IPAMConfig:
    return host_local.parse_config({"name": "net", "ipam": {"type": "host-local", "dataDir": str(tmp_path),
                                                            "ranges": [[{"subnet": "10.1.0.0/29", **range_}]]}})


def address(result: dict[str, Any]) -> str:
    return str(result["ips"][0]["address"])


def test_allocates_round_robin_skipping_the_gateway(tmp_path: Path) -> None:
    config = conf(tmp_path)
    got = [address(host_local.allocate(config, container_id=f"c{i}", ifname="eth0")) for i in range(5)]
    assert got == ["10.1.0.2/29", "10.1.0.3/29", "10.1.0.4/29", "10.1.0.5/29", "10.1.0.6/29"]
    with pytest.raises(CNIError) as err:
        host_local.allocate(config, container_id="c9", ifname="eth0")
    assert err.value.code == 101 and "10.1.0.0/29" in err.value.msg
    host_local.release(config, container_id="c1", ifname="eth0")
    # the search continues after the last reservation, then wraps round to the freed address
    assert address(host_local.allocate(config, container_id="c10", ifname="eth0")) == "10.1.0.3/29"


def test_a_repeated_add_returns_the_same_address(tmp_path: Path) -> None:
    config = conf(tmp_path)
    first = host_local.allocate(config, container_id="c", ifname="eth0")
    assert host_local.allocate(config, container_id="c", ifname="eth0") == first
    assert host_local.allocate(config, container_id="c", ifname="eth1") != first
    owner = (tmp_path / "net" / "10.1.0.2").read_bytes()
    assert owner == b"c\r\neth0"  # the reference plugin's file format


def test_release_is_idempotent_and_check_notices(tmp_path: Path) -> None:
    config = conf(tmp_path)
    host_local.allocate(config, container_id="c", ifname="eth0")
    host_local.check(config, container_id="c", ifname="eth0")
    host_local.release(config, container_id="c", ifname="eth0")
    host_local.release(config, container_id="c", ifname="eth0")
    with pytest.raises(CNIError) as err:
        host_local.check(config, container_id="c", ifname="eth0")
    assert err.value.code == 3


def test_range_start_end_and_gateway(tmp_path: Path) -> None:
    config = conf(tmp_path, rangeStart="10.1.0.4", rangeEnd="10.1.0.5", gateway="10.1.0.4")
    result = host_local.allocate(config, container_id="c", ifname="eth0")
    assert result["ips"] == [{"address": "10.1.0.5/29", "gateway": "10.1.0.4"}]


def test_gc_frees_what_is_not_valid(tmp_path: Path) -> None:
    config = conf(tmp_path)
    for i in range(3):
        host_local.allocate(config, container_id=f"c{i}", ifname="eth0")
    assert sorted(host_local.gc(config, valid={("c1", "eth0")})) == ["10.1.0.2", "10.1.0.4"]
    assert host_local.gc(config, valid={("c1", "eth0")}) == []
    assert sorted(p.name for p in (tmp_path / "net").iterdir() if p.name[0].isdigit()) == ["10.1.0.3"]


def test_large_ranges_are_cheap(tmp_path: Path) -> None:
    config = host_local.parse_config({"name": "big", "ipam": {"type": "host-local", "dataDir": str(tmp_path),
                                                              "ranges": [[{"subnet": "10.0.0.0/8"}]]}})
    assert address(host_local.allocate(config, container_id="c", ifname="eth0")) == "10.0.0.2/8"


@pytest.mark.parametrize("ipam", [
    pytest.param({}, id="no-ranges"),
    pytest.param({"ranges": [[{"subnet": "nonsense"}]]}, id="bad-subnet"),
    pytest.param({"ranges": [[{"subnet": "10.0.0.0/31"}]]}, id="too-small"),
    pytest.param({"ranges": [[{"subnet": "10.0.0.0/24", "rangeStart": "10.0.1.1"}]]}, id="start-outside"),
    pytest.param({"ranges": [[{"subnet": "10.0.0.0/24", "rangeStart": "10.0.0.9", "rangeEnd": "10.0.0.3"}]]},
                 id="start-after-end"),
    pytest.param({"ranges": [[{"subnet": "10.0.0.0/24"}, {"subnet": "fd00::/64"}]]}, id="mixed-families"),
    pytest.param({"ranges": [[{"subnet": "10.0.0.0/24"}]], "routes": [{"dst": "x"}]}, id="bad-route"),
])
def test_bad_ipam_configuration_is_rejected(ipam: dict[str, Any]) -> None:
    with pytest.raises(CNIError) as err:
        host_local.parse_config({"name": "net", "ipam": {"type": "host-local", **ipam}})
    assert err.value.code == 7


def test_stale_attachments_skip_known_and_young_ones(tmp_path: Path) -> None:
    import os
    import time

    config = conf(tmp_path)
    for cid in ("known", "young", "old"):
        host_local.allocate(config, container_id=cid, ifname="eth0")
    past = time.time() - 600
    for name in ("10.1.0.2", "10.1.0.4"):  # known's and old's reservations are ten minutes old
        os.utime(tmp_path / "net" / name, (past, past))
    assert host_local.stale_attachments(config, known_containers={"known"}, min_age=120) == {("old", "eth0")}
    assert host_local.stale_attachments(config, known_containers={"known"}, min_age=0) == {("old", "eth0"),
                                                                                          ("young", "eth0")}
