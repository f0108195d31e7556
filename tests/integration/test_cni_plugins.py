"""kubelite's CNI plugins on real network namespaces: spec conformance, IPAM safety, portmap, errors.

Each test gets a simulated node (a namespace with its own bridge, resident server and IPAM dir,
see cni_harness.py) and pod namespaces; the calls go through the installed shim executables exactly
as containerd makes them, or through the in-process fallback where the test says so.
"""

from __future__ import annotations

import ipaddress
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from cni_harness import SimNode, cni, httpd, in_ns, short_name, sim_node, wget

pytestmark = [pytest.mark.root, pytest.mark.integration]


@pytest.fixture
def node() -> Iterator[SimNode]:
    with sim_node("10.42.7.0/24") as n:
        yield n


def test_version_lists_supported_versions(node: SimNode) -> None:
    for plugin in ("bridge", "host-local", "loopback", "portmap"):
        rc, body = cni(node, plugin, "VERSION", config={"cniVersion": "1.0.0"}, ifname="")
        assert rc == 0 and body is not None
        assert body["cniVersion"] == "1.0.0" and "1.0.0" in body["supportedVersions"]


def test_add_check_del_follow_the_spec(node: SimNode) -> None:
    pod = node.add_pod()
    config = node.config(mtu=1400)
    rc, result = cni(node, "bridge", "ADD", container_id="c1", netns=pod, config=config)
    assert rc == 0, result
    assert result is not None and result["cniVersion"] == "1.0.0"
    names = [i["name"] for i in result["interfaces"]]
    assert names[0] == "kubelite0" and names[2] == "eth0"
    assert result["interfaces"][2]["sandbox"] == f"/run/netns/{pod}"
    (ip,) = result["ips"]
    assert ip["interface"] == 2 and ip["gateway"] == "10.42.7.1"
    address = ipaddress.ip_interface(ip["address"])
    assert address in ipaddress.ip_network("10.42.7.0/24") and address.network.prefixlen == 24
    assert result["routes"] == [{"dst": "0.0.0.0/0"}]
    # the kernel agrees with the result
    pod_link = in_ns(pod, "ip", "-o", "addr", "show", "dev", "eth0").stdout
    assert ip["address"] in pod_link
    assert "mtu 1400" in in_ns(pod, "ip", "link", "show", "eth0").stdout
    assert "default via 10.42.7.1 dev eth0" in in_ns(pod, "ip", "route").stdout
    host_veth = result["interfaces"][1]["name"]
    assert "hairpin on" in in_ns(node.netns, "bridge", "-d", "link", "show", "dev", host_veth).stdout
    bridge_flags = in_ns(node.netns, "ip", "link", "show", "kubelite0").stdout.split("<")[1].split(">")[0].split(",")
    assert "PROMISC" in bridge_flags and "UP" in bridge_flags
    ruleset = in_ns(node.netns, "nft", "list", "table", "ip", "kubelite-cni").stdout
    assert "10.42.7.0/24" in ruleset and "10.42.0.0/16" in ruleset and "masquerade" in ruleset
    assert node.allocations() == [str(address.ip)]
    # the node reaches the pod through the bridge
    assert f"{address.ip} dev kubelite0" in in_ns(node.netns, "ip", "route", "get", str(address.ip)).stdout

    check_config = dict(config, prevResult=result)
    rc, body = cni(node, "bridge", "CHECK", container_id="c1", netns=pod, config=check_config)
    assert (rc, body) == (0, None)

    rc, body = cni(node, "bridge", "DEL", container_id="c1", netns=pod, config=check_config)
    assert (rc, body) == (0, None)
    assert node.allocations() == []
    assert host_veth not in node.host_links()
    assert "eth0" not in in_ns(pod, "ip", "link").stdout
    # DEL is idempotent, also when the namespace is gone
    assert cni(node, "bridge", "DEL", container_id="c1", netns=pod, config=config) == (0, None)
    assert cni(node, "bridge", "DEL", container_id="c1", netns="", config=config) == (0, None)
    # CHECK of a deleted attachment fails with a spec error
    rc, body = cni(node, "bridge", "CHECK", container_id="c1", netns=pod, config=check_config)
    assert rc != 0 and body is not None and body["code"] == 3 and body["msg"]


def test_older_result_versions_carry_ip_version(node: SimNode) -> None:
    pod = node.add_pod()
    rc, result = cni(node, "bridge", "ADD", container_id="old", netns=pod, config=node.config(version="0.4.0"))
    assert rc == 0 and result is not None
    assert result["cniVersion"] == "0.4.0" and result["ips"][0]["version"] == "4"


@pytest.mark.parametrize(("env", "stdin", "code"), [
    pytest.param({"CNI_COMMAND": ""}, None, 4, id="no-command"),
    pytest.param({"CNI_COMMAND": "ADD", "CNI_IFNAME": ""}, None, 4, id="no-ifname"),
    pytest.param({"CNI_COMMAND": "ADD", "CNI_IFNAME": "eth0/x"}, None, 4, id="bad-ifname"),
    pytest.param({}, b"{not json", 6, id="bad-json"),
    pytest.param({}, {"cniVersion": "9.9.9"}, 1, id="bad-version"),
    pytest.param({}, {"ipam": {"type": "host-local", "ranges": [[{"subnet": "10.1.2.3/33"}]]}}, 7, id="bad-subnet"),
    pytest.param({}, {"mtu": 10}, 7, id="bad-mtu"),
    pytest.param({}, {"type": "portmap"}, 7, id="wrong-type"),
])
def test_bad_input_is_a_spec_error_and_changes_nothing(node: SimNode, env: dict[str, str],
                                                       stdin: bytes | dict[str, object] | None, code: int) -> None:
    pod = node.add_pod()
    config: bytes | dict[str, object] = node.config()
    if isinstance(stdin, bytes):
        config = stdin
    elif stdin is not None:
        base = node.config()
        if "ipam" in stdin:
            base["ipam"] = {**base["ipam"], **stdin["ipam"]}  # type: ignore[dict-item]
        else:
            base.update(stdin)
        config = base
    ifname = env.pop("CNI_IFNAME", "eth0")
    rc, body = cni(node, "bridge", env.pop("CNI_COMMAND", "ADD"), container_id="bad", netns=pod, ifname=ifname,
                   config=config)
    assert rc != 0 and body is not None, body
    assert body["code"] == code and body["msg"], body
    assert node.allocations() == []
    assert "eth0" not in in_ns(pod, "ip", "link").stdout


def test_a_netns_path_that_is_no_namespace_is_a_spec_error(node: SimNode) -> None:
    not_a_netns = node.base / "plain-file"
    not_a_netns.write_text("")
    rc, body = cni(node, "bridge", "ADD", container_id="nons", netns="", config=node.config(),
                   extra_env={"CNI_NETNS": str(not_a_netns)})
    assert rc != 0 and body is not None and body["code"] == 3, body
    assert node.allocations() == []


def test_twenty_parallel_adds_get_distinct_addresses(node: SimNode) -> None:
    pods = [node.add_pod() for _ in range(20)]
    config = node.config()

    def add(i: int) -> tuple[int, dict[str, object] | None]:
        # a fifth of the calls run in-process (fallback) beside the server: the lock works across processes
        return cni(node, "bridge", "ADD", container_id=f"par{i}", netns=pods[i], config=config, direct=i % 5 == 0)

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(add, range(20)))
    assert all(rc == 0 for rc, _ in results), [b for rc, b in results if rc]
    ips = [r["ips"][0]["address"] for _, r in results if r is not None]  # type: ignore[index]
    assert len(set(ips)) == 20
    assert len(node.allocations()) == 20
    with ThreadPoolExecutor(max_workers=20) as pool:
        dels = list(pool.map(lambda i: cni(node, "bridge", "DEL", container_id=f"par{i}", netns=pods[i],
                                           config=config), range(20)))
    assert all(rc == 0 for rc, _ in dels)
    assert node.allocations() == []
    assert not [link for link in node.host_links() if link.startswith("veth")]


def test_killed_add_leaks_nothing(node: SimNode) -> None:
    """ADDs killed at different moments, then the runtime's DEL: no address or interface is left."""
    config = node.config()
    for delay in (0.05, 0.25, 0.4, 0.55):
        pod = node.add_pod()
        cid = short_name("kill")
        env = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": cid, "CNI_NETNS": f"/run/netns/{pod}", "CNI_IFNAME": "eth0",
               "CNI_PATH": str(node.bin_dir), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        proc = subprocess.Popen(["ip", "netns", "exec", node.netns, str(node.bin_dir / "kubelite-cni-fallback"),
                                 "bridge"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env=env)
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(config).encode())
        proc.stdin.close()
        time.sleep(delay)  # deliberately racing the plugin: where it dies is the point of the test
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        # a retried ADD reuses what the killed one reserved; DEL then frees everything
        rc, result = cni(node, "bridge", "ADD", container_id=cid, netns=pod, config=config)
        assert rc == 0, result
        assert len(node.allocations()) == 1
        assert cni(node, "bridge", "DEL", container_id=cid, netns=pod, config=config) == (0, None)
        assert node.allocations() == []
    assert not [link for link in node.host_links() if link.startswith("veth")]


def test_add_after_a_crash_reuses_the_reserved_address(node: SimNode) -> None:
    pod = node.add_pod()
    config = node.config()
    rc, first = cni(node, "bridge", "ADD", container_id="again", netns=pod, config=config)
    assert rc == 0 and first is not None
    in_ns(pod, "ip", "link", "del", "eth0")  # the runtime lost the interface but not our records
    rc, second = cni(node, "bridge", "ADD", container_id="again", netns=pod, config=config)
    assert rc == 0 and second is not None
    assert second["ips"] == first["ips"] and len(node.allocations()) == 1


def test_fallback_works_without_the_server() -> None:
    with sim_node("10.42.8.0/24", server=False) as node:
        pod = node.add_pod()
        rc, result = cni(node, "bridge", "ADD", container_id="nosrv", netns=pod, config=node.config(), direct=True)
        assert rc == 0 and result is not None and result["ips"][0]["address"].startswith("10.42.8.")
        deleted = cni(node, "bridge", "DEL", container_id="nosrv", netns=pod, config=node.config(), direct=True)
        assert deleted == (0, None)
        assert node.allocations() == []


def test_loopback_sets_lo_up_and_down(node: SimNode) -> None:
    pod = node.add_pod()
    config = {"cniVersion": "1.0.0", "name": "lo", "type": "loopback"}
    rc, result = cni(node, "loopback", "ADD", container_id="lo1", netns=pod, ifname="lo", config=config)
    assert rc == 0 and result is not None and result["ips"][0]["address"] == "127.0.0.1/8"
    assert ",UP" in in_ns(pod, "ip", "link", "show", "lo").stdout
    assert cni(node, "loopback", "CHECK", container_id="lo1", netns=pod, ifname="lo",
               config=dict(config, prevResult=result)) == (0, None)
    assert cni(node, "loopback", "DEL", container_id="lo1", netns=pod, ifname="lo", config=config) == (0, None)
    assert ",UP" not in in_ns(pod, "ip", "link", "show", "lo").stdout


def test_gc_releases_addresses_of_unknown_attachments(node: SimNode) -> None:
    config = node.config(version="1.1.0")
    pods = [node.add_pod() for _ in range(3)]
    for i, pod in enumerate(pods):
        assert cni(node, "bridge", "ADD", container_id=f"gc{i}", netns=pod, config=config)[0] == 0
    gc_config = dict(config, **{"cni.dev/valid-attachments": [{"containerID": "gc1", "ifname": "eth0"}]})
    assert cni(node, "bridge", "GC", config=gc_config, ifname="") == (0, None)
    assert len(node.allocations()) == 1
    assert cni(node, "bridge", "STATUS", config=config, ifname="") == (0, None)


def test_portmap_maps_a_host_port_to_the_pod(node: SimNode, tmp_path: object) -> None:
    pod = node.add_pod()
    conflist = node.config(portmap=True)
    bridge_conf = {"cniVersion": "1.0.0", "name": "kubelite", **conflist["plugins"][0]}  # type: ignore[index]
    rc, result = cni(node, "bridge", "ADD", container_id="pm1", netns=pod, config=bridge_conf)
    assert rc == 0 and result is not None
    pod_ip = result["ips"][0]["address"].split("/")[0]
    portmap_conf = {"cniVersion": "1.0.0", "name": "kubelite", **conflist["plugins"][1],  # type: ignore[index]
                    "runtimeConfig": {"portMappings": [{"hostPort": 18080, "containerPort": 8080, "protocol": "tcp"},
                                                       {"hostPort": 15353, "containerPort": 53, "protocol": "udp"}]},
                    "prevResult": result}
    rc, passed = cni(node, "portmap", "ADD", container_id="pm1", netns=pod, config=portmap_conf)
    assert rc == 0 and passed is not None and passed["ips"] == result["ips"]
    assert f"tcp . 18080 : {pod_ip} . 8080" in in_ns(node.netns, "nft", "list", "map", "ip", "kubelite-cni",
                                                      "hostports").stdout
    assert cni(node, "portmap", "CHECK", container_id="pm1", netns=pod, config=portmap_conf) == (0, None)
    with httpd(pod, port=8080, body="hello from the pod", workdir=node.base):
        # the node itself, to one of its own addresses and the host port: DNAT in the output hook
        assert wget(node.netns, "http://10.42.7.1:18080/") == "hello from the pod"
        # hairpin: the pod reaches itself through the node's hostPort (masqueraded, so replies return)
        assert wget(pod, "http://10.42.7.1:18080/") == "hello from the pod"
    # a UDP flow to the hostPort: conntrack remembers its DNAT until DEL forgets it
    in_ns(node.netns, sys.executable, "-c", "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM)"
          ".sendto(b'x', ('10.42.7.1', 15353))")  # busybox nc has no UDP mode
    udp_flows = ("conntrack", "-L", "-p", "udp", "--orig-port-dst", "15353")
    assert f"[UNREPLIED] src={pod_ip}" in in_ns(node.netns, *udp_flows, check=False).stdout  # DNATed to the pod
    # DEL without prevResult still removes exactly what ADD added (from portmap's own record)
    del_conf = {k: v for k, v in portmap_conf.items() if k not in ("prevResult", "runtimeConfig")}
    assert cni(node, "portmap", "DEL", container_id="pm1", netns=pod, config=del_conf) == (0, None)
    assert "18080" not in in_ns(node.netns, "nft", "list", "map", "ip", "kubelite-cni", "hostports").stdout
    assert "15353" not in in_ns(node.netns, *udp_flows, check=False).stdout
    assert cni(node, "portmap", "DEL", container_id="pm1", netns=pod, config=del_conf) == (0, None)
    rc, body = cni(node, "portmap", "CHECK", container_id="pm1", netns=pod, config=portmap_conf)
    assert rc != 0 and body is not None and "18080" in body.get("details", "")
