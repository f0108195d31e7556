"""Every netlink call kubelite's CNI makes, through pyroute2, in one place.

The rest of ``kubelite.cni`` (and the agent's route reconciler) speaks in bridges, veths, addresses,
routes and VXLAN neighbours; this module turns those into ``IPRoute`` calls. Two things shape it:

* Speed: a resident process keeps one host ``IPRoute`` per thread open. A socket for a pod's network
  namespace is made by switching *this thread* into the namespace (``setns``), opening the netlink
  socket (a socket stays bound to the namespace it was created in) and switching straight back: well
  under a millisecond, where pyroute2's own ``netns=`` forks a helper process per socket.
* Idempotency: every ``ensure_*`` function reads before it writes and treats "already exists" from a
  racing caller as success, so a retried or concurrent CNI call converges instead of failing.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import ipaddress
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

CLONE_NEWNET = 0x40000000
BRPORT_MODE_HAIRPIN = 1
NTF_SELF = 0x2  # an FDB entry of the device itself (the VXLAN driver's table), not of a bridge master
_libc = ctypes.CDLL(None, use_errno=True)
_local = threading.local()


class NamespaceGone(Exception):
    """The network namespace path does not exist (any more)."""


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def host() -> IPRoute:
    """This thread's netlink socket in the namespace the thread runs in (the node's)."""
    ipr: IPRoute | None = getattr(_local, "ipr", None)
    if ipr is None:
        ipr = IPRoute()
        _local.ipr = ipr
    return ipr


@contextlib.contextmanager
def in_netns(path: str) -> Iterator[IPRoute]:
    """A netlink socket inside the namespace at ``path`` (e.g. ``/var/run/netns/cni-...``)."""
    try:
        target = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise NamespaceGone(path)
    try:
        home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            try:
                _setns(target)
            except OSError as exc:  # EINVAL: the path is some other file, not a network namespace
                raise NamespaceGone(f"{path} ({exc.strerror})")
            try:
                ipr = IPRoute()
            finally:
                _setns(home)  # never leave this thread in the pod's namespace
        finally:
            os.close(home)
    finally:
        os.close(target)
    try:
        yield ipr
    finally:
        ipr.close()


@contextlib.contextmanager
def thread_in_netns(path: str) -> Iterator[None]:
    """Run the block with this thread inside ``path`` (for /proc/sys writes that must happen there)."""
    target = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        _setns(target)
        try:
            yield
        finally:
            _setns(home)
    finally:
        os.close(target)
        os.close(home)


def netns_fd(path: str) -> int:
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise NamespaceGone(path)


def link_get(ipr: IPRoute, name: str) -> Any | None:
    """One RTM_GETLINK by name (``link_lookup`` would dump every link: ~5 ms with a few dozen pods)."""
    try:
        return ipr.link("get", ifname=name)[0]
    except NetlinkError as exc:
        if exc.code == errno.ENODEV:
            return None
        raise


def link_index(ipr: IPRoute, name: str) -> int | None:
    msg = link_get(ipr, name)
    return int(msg["index"]) if msg is not None else None


def link_info(ipr: IPRoute, index: int) -> Any:
    return ipr.get_links(index)[0]


def _ignore_exists(func: Any, *args: Any, **kwargs: Any) -> None:
    try:
        func(*args, **kwargs)
    except NetlinkError as exc:
        if exc.code != errno.EEXIST:
            raise


def ensure_bridge(ipr: IPRoute, *, name: str, mtu: int, gateway: ipaddress.IPv4Interface | None,
                  promisc: bool) -> tuple[int, str]:
    """The node bridge, up, with the pod gateway address; created on first use (racing callers agree).

    Returns (index, MAC). The address check is skipped when this thread already saw the same bridge
    (same index) with that address, which is every ADD but the first.
    """
    info = link_get(ipr, name)
    if info is None:
        _ignore_exists(ipr.link, "add", ifname=name, kind="bridge", mtu=mtu)
        info = link_get(ipr, name)
        if info is None:
            raise RuntimeError(f"bridge {name} vanished right after it was created")
    index = int(info["index"])
    if info.get_attr("IFLA_LINKINFO") is None or info.get_attr("IFLA_LINKINFO").get_attr("IFLA_INFO_KIND") != "bridge":
        raise ValueError(f"{name} exists and is not a bridge")
    seen: set[tuple[int, str]] = getattr(_local, "bridges_seen", set())
    _local.bridges_seen = seen
    if gateway is not None and (index, str(gateway)) not in seen:
        have = {(a.get_attr("IFA_ADDRESS"), a["prefixlen"]) for a in ipr.get_addr(index=index, family=socket.AF_INET)}
        if (str(gateway.ip), gateway.network.prefixlen) not in have:
            _ignore_exists(ipr.addr, "add", index=index, address=str(gateway.ip), prefixlen=gateway.network.prefixlen)
        seen.add((index, str(gateway)))
    # one RTM_SETLINK with an explicit flags/change mask: IFF_UP, and IFF_PROMISC when asked
    wanted = 0x1 | (0x100 if promisc else 0)
    if info["flags"] & wanted != wanted:
        ipr.link("set", index=index, flags=wanted, change=wanted)
    return index, str(info.get_attr("IFLA_ADDRESS"))


def host_veth_name(container_id: str, ifname: str) -> str:
    """A stable host-side name, so DEL and CHECK find the veth even when the pod's namespace is gone."""
    import hashlib  # only here: the fallback entry imports this module on every call

    return "veth" + hashlib.sha256(f"{container_id}/{ifname}".encode()).hexdigest()[:11]


@dataclass
class VethPair:
    host_name: str
    host_index: int
    host_mac: str
    container_index: int
    container_mac: str


def create_veth(ipr: IPRoute, pod: IPRoute, *, host_name: str, ifname: str, netns_path: str, mtu: int,
                bridge_index: int, hairpin: bool) -> VethPair:
    """A veth pair whose peer is born inside the pod's namespace as ``ifname``, attached to the bridge.

    One RTM_NEWLINK creates both ends, puts the host end on the bridge and brings it up.
    """
    for attempt in (1, 2):
        fd = netns_fd(netns_path)
        try:
            ipr.link("add", ifname=host_name, kind="veth", mtu=mtu, master=bridge_index, state="up",
                     peer={"ifname": ifname, "net_ns_fd": fd, "mtu": mtu})
            break
        except NetlinkError as exc:
            if exc.code != errno.EEXIST:
                raise
            if attempt == 1 and delete_link(ipr, host_name):
                continue  # left by a killed earlier ADD of this attachment: start from scratch
            raise ValueError(f"container interface {ifname} already exists in {netns_path}")
        finally:
            os.close(fd)
    host_link, container_link = link_get(ipr, host_name), link_get(pod, ifname)
    if host_link is None or container_link is None:
        raise RuntimeError(f"veth pair {host_name}/{ifname} did not appear")
    host_index = int(host_link["index"])
    if hairpin:
        ipr.brport("set", index=host_index, mode=BRPORT_MODE_HAIRPIN)
    return VethPair(host_name=host_name, host_index=host_index, host_mac=str(host_link.get_attr("IFLA_ADDRESS")),
                    container_index=int(container_link["index"]),
                    container_mac=str(container_link.get_attr("IFLA_ADDRESS")))


def configure_pod_interface(pod: IPRoute, *, index: int, addresses: list[ipaddress.IPv4Interface],
                            routes: list[tuple[ipaddress.IPv4Network, str | None]]) -> None:
    """Addresses, link up, then routes (a gateway route needs the link up and its subnet present)."""
    for address in addresses:
        _ignore_exists(pod.addr, "add", index=index, address=str(address.ip), prefixlen=address.network.prefixlen)
    pod.link("set", index=index, state="up")
    for dst, gateway in routes:
        spec: dict[str, Any] = {"dst": str(dst.network_address), "dst_len": dst.prefixlen, "oif": index}
        if gateway:
            spec["gateway"] = gateway
        _ignore_exists(pod.route, "add", **spec)


def delete_link(ipr: IPRoute, name: str) -> bool:
    """Delete ``name`` if it exists; ``False`` when there was nothing to delete."""
    try:
        ipr.link("del", ifname=name)
    except NetlinkError as exc:
        if exc.code != errno.ENODEV:
            raise
        return False
    return True


def set_link_up(ipr: IPRoute, name: str, *, up: bool) -> None:
    index = link_index(ipr, name)
    if index is None:
        raise ValueError(f"no interface {name}")
    ipr.link("set", index=index, state="up" if up else "down")


def is_up(ipr: IPRoute, name: str) -> bool:
    msg = link_get(ipr, name)
    return msg is not None and bool(msg["flags"] & 0x1)


def ipv4_addresses(ipr: IPRoute, index: int) -> set[str]:
    return {f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}" for a in ipr.get_addr(index=index, family=socket.AF_INET)}


def has_default_route(ipr: IPRoute, gateway: str) -> bool:
    for route in ipr.get_routes(family=socket.AF_INET, table=254):
        if route["dst_len"] == 0 and route.get_attr("RTA_GATEWAY") == gateway:
            return True
    return False


def master_of(ipr: IPRoute, index: int) -> int | None:
    master = link_info(ipr, index).get_attr("IFLA_MASTER")
    return int(master) if master else None


def write_sysctl(name: str, value: str) -> None:
    """``net.ipv4.ip_forward`` style; /proc/sys/net is per namespace, as seen by this thread."""
    path = "/proc/sys/" + name.replace(".", "/")
    with open(path, "w") as f:
        f.write(value)


def read_sysctl(name: str) -> str:
    with open("/proc/sys/" + name.replace(".", "/")) as f:
        return f.read().strip()


# --- cross-node routes (the agent's reconciler) ------------------------------------------------------

ROUTE_PROTO_KUBELITE = 200
"""rtm_protocol our routes carry: how the reconciler tells its own routes from anybody else's."""


@dataclass(frozen=True)
class PodRoute:
    dst: ipaddress.IPv4Network
    gateway: str
    oif: int
    onlink: bool = False


def kubelite_routes(ipr: IPRoute) -> list[PodRoute]:
    found = []
    for route in ipr.get_routes(family=socket.AF_INET, table=254, proto=ROUTE_PROTO_KUBELITE):
        if route["proto"] != ROUTE_PROTO_KUBELITE:
            continue
        dst = route.get_attr("RTA_DST") or "0.0.0.0"
        found.append(PodRoute(dst=ipaddress.IPv4Network(f"{dst}/{route['dst_len']}"),
                              gateway=str(route.get_attr("RTA_GATEWAY") or ""),
                              oif=int(route.get_attr("RTA_OIF") or 0), onlink=bool(route["flags"] & 0x4)))
    return found


def replace_route(ipr: IPRoute, route: PodRoute) -> None:
    spec: dict[str, Any] = {"dst": str(route.dst.network_address), "dst_len": route.dst.prefixlen,
                            "gateway": route.gateway, "oif": route.oif, "proto": ROUTE_PROTO_KUBELITE}
    if route.onlink:
        spec["flags"] = 0x4  # RTNH_F_ONLINK: the VXLAN peer's address is not on any local subnet
    ipr.route("replace", **spec)


def delete_route(ipr: IPRoute, route: PodRoute) -> None:
    with contextlib.suppress(NetlinkError):
        ipr.route("del", dst=str(route.dst.network_address), dst_len=route.dst.prefixlen,
                  proto=ROUTE_PROTO_KUBELITE)


def on_link_interface(ipr: IPRoute, destination: str) -> int | None:
    """The interface ``destination`` is directly reachable on, or ``None`` (no route, or via a router).

    host-gw can use a node as next hop only when it shares a link with us.
    """
    try:
        routes = ipr.route("get", dst=destination)
    except NetlinkError:
        return None
    for route in routes:
        oif = route.get_attr("RTA_OIF")
        if oif and not route.get_attr("RTA_GATEWAY"):
            return int(oif)
    return None


def ensure_vxlan(ipr: IPRoute, *, name: str, vni: int, local_ip: str, port: int, mtu: int,
                 address: ipaddress.IPv4Interface, mac: str) -> int:
    """The node's VXLAN device, like flannel's: no learning, FDB and neighbours programmed per node."""
    index = link_index(ipr, name)
    if index is not None:
        info = link_info(ipr, index).get_attr("IFLA_LINKINFO")
        data = info.get_attr("IFLA_INFO_DATA") if info is not None else None
        if (info is None or info.get_attr("IFLA_INFO_KIND") != "vxlan" or data is None
                or data.get_attr("IFLA_VXLAN_ID") != vni or data.get_attr("IFLA_VXLAN_LOCAL") != local_ip):
            ipr.link("del", index=index)
            index = None
    if index is None:
        _ignore_exists(ipr.link, "add", ifname=name, kind="vxlan", vxlan_id=vni, vxlan_local=local_ip,
                       vxlan_port=port, vxlan_learning=0, address=mac, mtu=mtu)
        index = link_index(ipr, name)
        if index is None:
            raise RuntimeError(f"vxlan device {name} did not appear")
    if ipv4_addresses(ipr, index) != {str(address)}:
        for existing in ipv4_addresses(ipr, index):
            ip, _, plen = existing.partition("/")
            with contextlib.suppress(NetlinkError):
                ipr.addr("del", index=index, address=ip, prefixlen=int(plen))
        _ignore_exists(ipr.addr, "add", index=index, address=str(address.ip), prefixlen=address.network.prefixlen)
    ipr.link("set", index=index, state="up")
    return index


def vxlan_peers(ipr: IPRoute, index: int) -> tuple[dict[str, str], dict[str, str]]:
    """(FDB mac -> remote VTEP ip, neighbour ip -> mac) currently programmed on the VXLAN device."""
    fdb: dict[str, str] = {}
    for entry in ipr.fdb("dump", ifindex=index):
        if entry["ifindex"] != index:
            continue
        mac, dst = entry.get_attr("NDA_LLADDR"), entry.get_attr("NDA_DST")
        if mac and dst:
            fdb[str(mac)] = str(dst)
    neigh: dict[str, str] = {}
    for entry in ipr.get_neighbours(ifindex=index, family=socket.AF_INET):
        ip, mac = entry.get_attr("NDA_DST"), entry.get_attr("NDA_LLADDR")
        if ip and mac and entry["state"] & 0x80:  # NUD_PERMANENT: ours
            neigh[str(ip)] = str(mac)
    return fdb, neigh


def set_vxlan_peer(ipr: IPRoute, index: int, *, mac: str, vtep_ip: str, peer_ip: str) -> None:
    ipr.neigh("replace", ifindex=index, dst=peer_ip, lladdr=mac, state=0x80, family=socket.AF_INET)
    ipr.fdb("replace", ifindex=index, lladdr=mac, dst=vtep_ip, state=0x80, flags=NTF_SELF)


def delete_vxlan_peer(ipr: IPRoute, index: int, *, mac: str | None, vtep_ip: str | None,
                      peer_ip: str | None) -> None:
    if peer_ip:
        with contextlib.suppress(NetlinkError):
            ipr.neigh("del", ifindex=index, dst=peer_ip, family=socket.AF_INET)
    if mac and vtep_ip:
        with contextlib.suppress(NetlinkError):
            ipr.fdb("del", ifindex=index, lladdr=mac, dst=vtep_ip, flags=NTF_SELF)
