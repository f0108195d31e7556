"""The ``bridge`` plugin: one node bridge, one veth pair per pod, addresses from the IPAM plugin.

Configuration (the reference plugin's keys; ``clusterCIDR`` is ours)::

    {"type": "bridge", "bridge": "kubelite0", "mtu": 1500, "isGateway": true, "isDefaultGateway": true,
     "ipMasq": true, "hairpinMode": true, "promiscMode": true, "clusterCIDR": "10.42.0.0/16",
     "ipam": {"type": "host-local", ...}}

ADD: IPAM first (so a failure leaves no interface behind), then bridge + gateway address, the veth
pair with its peer created directly inside the pod's namespace, addresses and routes there, and the
masquerade set elements. If any step after IPAM fails, the addresses are released and the veth is
removed before the error is returned (a failed ADD leaves nothing). DEL releases IPAM first, then
deletes the host side of the veth by its stable name (the peer goes with it), so it works when the
namespace is already gone and is a no-op the second time. CHECK compares the pod interface with
``prevResult``.
"""

from __future__ import annotations

import contextlib
import ipaddress
from typing import Any

from kubelite.cni import ipam, nat, netlink
from kubelite.cni.spec import (
    ERR_INVALID_CONFIG,
    ERR_UNKNOWN_CONTAINER,
    CNIError,
    Request,
    parse_prev_ips,
)

DEFAULT_BRIDGE = "cni0"


class BridgeConfig:
    def __init__(self, raw: dict[str, Any]) -> None:
        self.bridge = str(raw.get("bridge") or DEFAULT_BRIDGE)
        try:
            netlink_name_ok = 0 < len(self.bridge) <= 15 and "/" not in self.bridge
            self.mtu = int(raw.get("mtu") or 1500)
            self.cluster_cidr = (str(ipaddress.ip_network(raw["clusterCIDR"], strict=False))
                                 if raw.get("clusterCIDR") else "")
        except (TypeError, ValueError) as exc:
            raise CNIError(ERR_INVALID_CONFIG, "invalid bridge configuration", str(exc))
        if not netlink_name_ok:
            raise CNIError(ERR_INVALID_CONFIG, f"invalid bridge name {self.bridge!r}", "1-15 characters, no '/'")
        if not 68 <= self.mtu <= 65535:
            raise CNIError(ERR_INVALID_CONFIG, f"invalid mtu {self.mtu}", "must be between 68 and 65535")
        self.is_gateway = bool(raw.get("isGateway", False)) or bool(raw.get("isDefaultGateway", False))
        self.is_default_gateway = bool(raw.get("isDefaultGateway", False))
        self.ip_masq = bool(raw.get("ipMasq", False))
        self.hairpin = bool(raw.get("hairpinMode", False))
        self.promisc = bool(raw.get("promiscMode", False))
        if not isinstance(raw.get("ipam"), dict) or not raw["ipam"].get("type"):
            raise CNIError(ERR_INVALID_CONFIG, "bridge needs an \"ipam\" section with a \"type\"")


def _ipv4_results(ipam_result: dict[str, Any]) -> list[tuple[ipaddress.IPv4Interface, str | None]]:
    return [(iface, gw) for iface, gw, _ in parse_prev_ips(ipam_result)]


def add(request: Request) -> dict[str, Any]:
    conf = BridgeConfig(request.config)
    ipam_result = ipam.add(request)
    try:
        return _add_interfaces(request, conf, ipam_result)
    except BaseException:
        with contextlib.suppress(Exception):
            ipam.delete(request)
        with contextlib.suppress(Exception):
            netlink.delete_link(netlink.host(), netlink.host_veth_name(request.container_id, request.ifname))
        raise


def _add_interfaces(request: Request, conf: BridgeConfig, ipam_result: dict[str, Any]) -> dict[str, Any]:
    addresses = _ipv4_results(ipam_result)
    if not addresses:
        raise CNIError(ERR_INVALID_CONFIG, "IPAM returned no IPv4 address")
    gateways: list[ipaddress.IPv4Interface] = []
    for iface, gw in addresses:
        gateway = gw if gw is not None else str(iface.network.network_address + 1)
        gateways.append(ipaddress.IPv4Interface(f"{gateway}/{iface.network.prefixlen}"))
    host = netlink.host()
    bridge_index, bridge_mac = netlink.ensure_bridge(host, name=conf.bridge, mtu=conf.mtu,
                                         gateway=gateways[0] if conf.is_gateway else None, promisc=conf.promisc)
    routes: list[tuple[ipaddress.IPv4Network, str | None]] = []
    for route in ipam_result.get("routes") or []:
        dst = ipaddress.ip_network(route["dst"], strict=False)
        if isinstance(dst, ipaddress.IPv4Network):
            routes.append((dst, route.get("gw") or str(gateways[0].ip)))
    if conf.is_default_gateway and not any(dst.prefixlen == 0 for dst, _ in routes):
        routes.append((ipaddress.IPv4Network("0.0.0.0/0"), str(gateways[0].ip)))
    host_name = netlink.host_veth_name(request.container_id, request.ifname)
    try:
        with netlink.in_netns(request.netns) as pod:
            pair = netlink.create_veth(host, pod, host_name=host_name, ifname=request.ifname,
                                       netns_path=request.netns, mtu=conf.mtu, bridge_index=bridge_index,
                                       hairpin=conf.hairpin)
            netlink.configure_pod_interface(pod, index=pair.container_index,
                                            addresses=[iface for iface, _ in addresses], routes=routes)
    except netlink.NamespaceGone:
        raise CNIError(ERR_UNKNOWN_CONTAINER, f"network namespace {request.netns} does not exist")
    except ValueError as exc:
        raise CNIError(ERR_INVALID_CONFIG, str(exc))
    if conf.ip_masq:
        exempt = [conf.cluster_cidr] if conf.cluster_cidr else [str(i.network) for i, _ in addresses]
        nat.ensure_table(masq_sources=[str(i.network) for i, _ in addresses], exempt=[*exempt, "224.0.0.0/4"])
    result: dict[str, Any] = {
        "interfaces": [
            {"name": conf.bridge, "mac": bridge_mac},
            {"name": pair.host_name, "mac": pair.host_mac},
            {"name": request.ifname, "mac": pair.container_mac, "sandbox": request.netns},
        ],
        "ips": [{"address": str(iface), "gateway": str(gw.ip), "interface": 2}
                for (iface, _), gw in zip(addresses, gateways, strict=True)],
        "routes": [{"dst": str(dst), **({"gw": gw} if gw and gw != str(gateways[0].ip) else {})}
                   for dst, gw in routes],
        "dns": ipam_result.get("dns") or {},
    }
    return result


def delete(request: Request) -> None:
    BridgeConfig(request.config)
    ipam.delete(request)
    netlink.delete_link(netlink.host(), netlink.host_veth_name(request.container_id, request.ifname))
    if request.netns:
        # the runtime may reuse the namespace: make sure the pod end is gone too (no-op if it went with the pair)
        with contextlib.suppress(netlink.NamespaceGone), netlink.in_netns(request.netns) as pod:
            netlink.delete_link(pod, request.ifname)


def check(request: Request) -> None:
    conf = BridgeConfig(request.config)
    prev = request.prev_result
    if prev is None:
        raise CNIError(ERR_INVALID_CONFIG, "CHECK needs prevResult")
    ipam.check(request)
    host = netlink.host()
    bridge_index = netlink.link_index(host, conf.bridge)
    if bridge_index is None:
        raise CNIError(ERR_UNKNOWN_CONTAINER, f"bridge {conf.bridge} does not exist")
    host_name = netlink.host_veth_name(request.container_id, request.ifname)
    veth = netlink.link_index(host, host_name)
    if veth is None or netlink.master_of(host, veth) != bridge_index:
        raise CNIError(ERR_UNKNOWN_CONTAINER, f"host veth {host_name} is missing or not on bridge {conf.bridge}")
    wanted = {str(iface) for iface, _, _ in parse_prev_ips(prev)}
    try:
        with netlink.in_netns(request.netns) as pod:
            index = netlink.link_index(pod, request.ifname)
            if index is None:
                raise CNIError(ERR_UNKNOWN_CONTAINER, f"interface {request.ifname} not found in {request.netns}")
            have = netlink.ipv4_addresses(pod, index)
            if not wanted <= have:
                raise CNIError(ERR_UNKNOWN_CONTAINER, f"{request.ifname} lacks addresses {sorted(wanted - have)}")
            for _, gw, _ in parse_prev_ips(prev):
                if conf.is_default_gateway and gw and not netlink.has_default_route(pod, gw):
                    raise CNIError(ERR_UNKNOWN_CONTAINER, f"no default route via {gw} in {request.netns}")
    except netlink.NamespaceGone:
        raise CNIError(ERR_UNKNOWN_CONTAINER, f"network namespace {request.netns} does not exist")
