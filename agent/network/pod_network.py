"""Pod networking on one node: CNI plugins, the resident CNI server, the conflist, cross-node routes.

``run_pod_network`` is the agent component (DESIGN.md, "CNI"). In order, it

1. installs kubelite's plugin executables (bridge, host-local, loopback, portmap) into the CNI bin
   dir containerd is configured with, and starts the resident CNI server the shims talk to
   (``kubelite.cni.server``; when it is not running the shims do the work in-process);
2. turns on ``net.ipv4.ip_forward`` and the bridge netfilter sysctls (hostPort DNAT and Service
   rules must see bridged pod-to-pod traffic);
3. waits until the node IPAM controller has given this Node a ``spec.podCIDR`` and writes the
   conflist (``kubelite``: bridge ``kubelite0`` + host-local on the podCIDR + portmap);
4. watches Nodes and keeps one route per other node's podCIDR (level-triggered, and re-checked
   every ``RESYNC_SECONDS`` so a route deleted by hand comes back):

   * ``host-gw``: ``<podCIDR> via <node IP>`` (nodes share an L2 segment);
   * ``vxlan``: device ``kubelite.vxlan`` (VNI 1, UDP 8472, no learning, as flannel): for each peer
     a permanent neighbour ``<peer podCIDR .0> -> <peer VTEP MAC>``, an FDB entry ``MAC -> node IP``
     and ``<podCIDR> via <peer .0> dev kubelite.vxlan onlink``. A VTEP MAC is derived from the node
     name, so nodes agree on it without publishing anything.

   host-gw skips (and warns about) a node that shares no link with this one;
5. keeps ``table ip kubelite-cni`` (masquerade for the podCIDR) present, re-creating it after a flush;
6. compiles Pods, Namespaces and NetworkPolicies into the node's policy table on every change
   (``network_policy.py``);
7. with a CRI ``runtime``, every ``GC_INTERVAL_SECONDS`` DELs attachments that hold an address for
   longer than ``GC_MIN_AGE_SECONDS`` while the runtime lists no such sandbox (leaks of crashes).

Routes carry protocol 200, so the reconciler removes exactly its own stale routes and nothing else.
All netlink work runs on one executor thread (pyroute2's blocking API runs an event loop of its own).
It runs until cancelled and then stops only the CNI server: pods keep their networking.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import json
import logging
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubelite.agent.config import AgentConfig
from kubelite.agent.network.network_policy import apply_ruleset, compile_ruleset
from kubelite.client import APIClient, Informer
from kubelite.cni import host_local, nat, netlink, plugins
from kubelite.cni.executables import install_plugins, socket_path
from kubelite.cni.server import CNIServer
from kubelite.cri import RuntimeClient
from kubelite.native.nftables import Nftables

log = logging.getLogger(__name__)

NETWORK_NAME = "kubelite"
BRIDGE = "kubelite0"
CONFLIST_NAME = "10-kubelite.conflist"
VXLAN_DEVICE = "kubelite.vxlan"
VXLAN_VNI = 1
VXLAN_PORT = 8472
VXLAN_OVERHEAD = 50
RESYNC_SECONDS = 30.0
GC_INTERVAL_SECONDS = 300.0
GC_MIN_AGE_SECONDS = 120.0
BACKENDS = ("host-gw", "vxlan")
SYSCTLS = {"net.ipv4.ip_forward": "1", "net.bridge.bridge-nf-call-iptables": "1",
           "net.bridge.bridge-nf-call-ip6tables": "1"}


def vtep_mac(node_name: str) -> str:
    """A locally administered unicast MAC for a node's VXLAN endpoint, the same on every node."""
    digest = hashlib.sha256(node_name.encode()).digest()
    return ":".join(f"{b:02x}" for b in bytes([0x0A, 0x6B]) + digest[:4])


def node_ip(node: dict[str, Any]) -> str:
    """The Node's InternalIP (ExternalIP as a fallback), or ""."""
    addresses = (node.get("status") or {}).get("addresses") or []
    for kind in ("InternalIP", "ExternalIP"):
        for address in addresses:
            if address.get("type") == kind and address.get("address"):
                with contextlib.suppress(ValueError):
                    if isinstance(ipaddress.ip_address(address["address"]), ipaddress.IPv4Address):
                        return str(address["address"])
    return ""


def pod_cidr(node: dict[str, Any]) -> str:
    spec = node.get("spec") or {}
    for cidr in [spec.get("podCIDR"), *(spec.get("podCIDRs") or [])]:
        if cidr:
            with contextlib.suppress(ValueError):
                if isinstance(ipaddress.ip_network(cidr), ipaddress.IPv4Network):
                    return str(cidr)
    return ""


@dataclass(frozen=True)
class Peer:
    name: str
    ip: str
    pod_cidr: ipaddress.IPv4Network


def peers_of(nodes: Iterable[dict[str, Any]], *, self_name: str) -> list[Peer]:
    """Every other node that has both a podCIDR and an IPv4 address, sorted by name."""
    peers = []
    for node in nodes:
        name = (node.get("metadata") or {}).get("name", "")
        cidr, ip = pod_cidr(node), node_ip(node)
        if name and name != self_name and cidr and ip:
            peers.append(Peer(name=name, ip=ip, pod_cidr=ipaddress.IPv4Network(cidr)))
    return sorted(peers, key=lambda p: p.name)


def build_conflist(*, pod_cidr: str, cluster_cidr: str, mtu: int, agent_dir: Path) -> dict[str, Any]:
    """The network containerd uses for every pod of this node."""
    return {
        "cniVersion": "1.0.0",
        "name": NETWORK_NAME,
        "plugins": [
            {"type": "bridge", "bridge": BRIDGE, "mtu": mtu, "isGateway": True, "isDefaultGateway": True,
             "ipMasq": True, "hairpinMode": True, "promiscMode": True, "clusterCIDR": cluster_cidr,
             "ipam": {"type": "host-local", "ranges": [[{"subnet": pod_cidr}]], "routes": [{"dst": "0.0.0.0/0"}],
                      "dataDir": str(agent_dir / "cni" / "ipam")}},
            {"type": "portmap", "capabilities": {"portMappings": True},
             "dataDir": str(agent_dir / "cni" / "portmap")},
        ],
    }


def write_conflist(conf_dir: Path, conflist: dict[str, Any]) -> bool:
    """Write atomically (containerd watches the directory); ``False`` when it was already current."""
    conf_dir.mkdir(parents=True, exist_ok=True)
    path = conf_dir / CONFLIST_NAME
    data = json.dumps(conflist, indent=2).encode() + b"\n"
    if path.is_file() and path.read_bytes() == data:
        return False
    tmp = conf_dir / f".{CONFLIST_NAME}.tmp"
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return True


@contextlib.contextmanager
def _maybe_in_netns(netns: str | None) -> Iterator[None]:
    if netns is None:
        yield
    else:
        with netlink.thread_in_netns(netns):
            yield


def set_sysctls(*, netns: str | None = None) -> None:
    """ip_forward and bridge-nf; a missing bridge-nf knob (no br_netfilter) is logged, not fatal."""
    with _maybe_in_netns(netns):
        for name, value in SYSCTLS.items():
            try:
                if netlink.read_sysctl(name) != value:
                    netlink.write_sysctl(name, value)
            except FileNotFoundError:
                log.warning("sysctl %s does not exist on this host (br_netfilter not loaded?)", name)


def underlay_mtu(ipr: Any, local_ip: str) -> int:
    """The MTU of the interface holding ``local_ip`` (1500 when it cannot be found)."""
    for addr in ipr.get_addr(family=2):
        if addr.get_attr("IFA_ADDRESS") == local_ip:
            mtu = netlink.link_info(ipr, addr["index"]).get_attr("IFLA_MTU")
            return int(mtu or 1500)
    return 1500


class RouteReconciler:
    """Make the node's routes to other nodes' podCIDRs match the Node list (one backend)."""

    def __init__(self, *, backend: str, self_name: str, local_ip: str, own_pod_cidr: str, ipr: Any) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"unknown pod network backend {backend!r}: one of {', '.join(BACKENDS)}")
        self.backend = backend
        self.self_name = self_name
        self.local_ip = local_ip
        self.own_pod_cidr = ipaddress.IPv4Network(own_pod_cidr)
        self.ipr = ipr
        self._unreachable: set[str] = set()

    def reconcile(self, peers: list[Peer]) -> None:
        if self.backend == "vxlan":
            self._reconcile_vxlan(peers)
        else:
            self._reconcile_host_gw(peers)

    def _apply_routes(self, desired: dict[ipaddress.IPv4Network, netlink.PodRoute]) -> None:
        for route in netlink.kubelite_routes(self.ipr):
            want = desired.get(route.dst)
            if want is None or (want.gateway, want.oif or route.oif) != (route.gateway, route.oif):
                netlink.delete_route(self.ipr, route)
        have = {r.dst: r for r in netlink.kubelite_routes(self.ipr)}
        for dst, route in desired.items():
            current = have.get(dst)
            if current is None or current.gateway != route.gateway or (route.oif and current.oif != route.oif):
                netlink.replace_route(self.ipr, route)

    def _reconcile_host_gw(self, peers: list[Peer]) -> None:
        with contextlib.suppress(Exception):  # switching from vxlan: its device must go
            netlink.delete_link(self.ipr, VXLAN_DEVICE)
        desired = {}
        for peer in peers:
            oif = netlink.on_link_interface(self.ipr, peer.ip)
            if oif is None:
                if peer.name not in self._unreachable:
                    log.warning("host-gw: node %s (%s) is not on a link this node shares, so its pods (%s) are "
                                "unreachable; use --pod-network-backend vxlan", peer.name, peer.ip, peer.pod_cidr)
                    self._unreachable.add(peer.name)
                continue
            self._unreachable.discard(peer.name)
            desired[peer.pod_cidr] = netlink.PodRoute(dst=peer.pod_cidr, gateway=peer.ip, oif=oif)
        self._apply_routes(desired)

    def _reconcile_vxlan(self, peers: list[Peer]) -> None:
        mtu = underlay_mtu(self.ipr, self.local_ip) - VXLAN_OVERHEAD
        index = netlink.ensure_vxlan(self.ipr, name=VXLAN_DEVICE, vni=VXLAN_VNI, local_ip=self.local_ip,
                                     port=VXLAN_PORT, mtu=mtu, mac=vtep_mac(self.self_name),
                                     address=ipaddress.IPv4Interface(f"{self.own_pod_cidr.network_address}/32"))
        wanted_neigh = {str(p.pod_cidr.network_address): vtep_mac(p.name) for p in peers}
        wanted_fdb = {vtep_mac(p.name): p.ip for p in peers}
        fdb, neigh = netlink.vxlan_peers(self.ipr, index)
        for ip, mac in neigh.items():
            if wanted_neigh.get(ip) != mac:
                netlink.delete_vxlan_peer(self.ipr, index, mac=None, vtep_ip=None, peer_ip=ip)
        for mac, dst in fdb.items():
            if mac != "00:00:00:00:00:00" and wanted_fdb.get(mac) != dst:
                netlink.delete_vxlan_peer(self.ipr, index, mac=mac, vtep_ip=dst, peer_ip=None)
        for peer in peers:
            mac = vtep_mac(peer.name)
            if neigh.get(str(peer.pod_cidr.network_address)) != mac or fdb.get(mac) != peer.ip:
                netlink.set_vxlan_peer(self.ipr, index, mac=mac, vtep_ip=peer.ip,
                                       peer_ip=str(peer.pod_cidr.network_address))
        self._apply_routes({p.pod_cidr: netlink.PodRoute(dst=p.pod_cidr, gateway=str(p.pod_cidr.network_address),
                                                          oif=index, onlink=True) for p in peers})


class PodNetwork:
    """The component behind :func:`run_pod_network`; ``netns`` lets tests run a node inside a namespace."""

    def __init__(self, *, config: AgentConfig, client: APIClient, runtime: RuntimeClient | None = None,
                 netns: str | None = None) -> None:
        if config.pod_network_backend not in BACKENDS:
            raise ValueError(f"--pod-network-backend {config.pod_network_backend!r}: one of {', '.join(BACKENDS)}")
        self.config = config
        self.client = client
        self.netns = netns
        self.runtime = runtime
        self.gc_interval = GC_INTERVAL_SECONDS
        self.gc_min_age = GC_MIN_AGE_SECONDS
        self.collected: list[str] = []
        """Container IDs whose leaked pod networking the garbage collector removed (for logs and tests)."""
        self.server: CNIServer | None = None
        self.conflist_written = asyncio.Event()
        self._changed = asyncio.Event()
        self._policy_changed = asyncio.Event()
        self._applied_policy = ""
        self.policy_applied = asyncio.Event()
        """Set after every NetworkPolicy ruleset change reached nftables (tests wait on it)."""
        self._reconciler: RouteReconciler | None = None
        self._ipr: Any = None
        self._netns_ipr: Any = None

    def start_cni(self) -> None:
        """Install the executables and start the resident server (its threads live in the node's namespace)."""
        install_plugins(bin_dir=self.config.cni_bin_dir)
        self.server = CNIServer(socket_path=socket_path(self.config.cni_bin_dir))
        with _maybe_in_netns(self.netns):
            self.server.start()  # threads inherit the namespace of the thread that creates them
        set_sysctls(netns=self.netns)

    def stop_cni(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def _kick(self, *_: Any) -> None:
        self._changed.set()

    def _netlink(self) -> Any:
        """The netlink socket of the node's namespace; only ever used on the single pod-network thread."""
        if self._ipr is None:
            if self.netns is None:
                self._ipr = netlink.host()
            else:
                self._netns_ipr = netlink.in_netns(self.netns)
                self._ipr = self._netns_ipr.__enter__()
        return self._ipr

    def reconcile(self, me: dict[str, Any], nodes: list[dict[str, Any]]) -> None:
        """Write the conflist for this node's podCIDR and converge routes to ``nodes`` (blocking netlink)."""
        ipr = self._netlink()
        cidr = pod_cidr(me)
        local_ip = self.config.node_ip or node_ip(me)
        reconciler = self._reconciler
        if reconciler is None or str(reconciler.own_pod_cidr) != cidr or reconciler.local_ip != local_ip:
            reconciler = self._reconciler = RouteReconciler(
                backend=self.config.pod_network_backend, self_name=self.config.node_name, local_ip=local_ip,
                own_pod_cidr=cidr, ipr=ipr)
        mtu = underlay_mtu(ipr, local_ip)
        if self.config.pod_network_backend == "vxlan":
            mtu -= VXLAN_OVERHEAD
        conflist = build_conflist(pod_cidr=cidr, cluster_cidr=self.config.cluster_cidr, mtu=mtu,
                                  agent_dir=self.config.agent_dir)
        if write_conflist(self.config.cni_conf_dir, conflist):
            log.info("pod network: wrote %s for podCIDR %s", CONFLIST_NAME, cidr)
        with _maybe_in_netns(self.netns):  # masquerade is needed before the first pod and after a flush
            if nat.restore(masq_sources=[cidr], exempt=[self.config.cluster_cidr, "224.0.0.0/4"]):
                log.warning("pod network: table ip %s was missing; re-created", nat.TABLE)
        reconciler.reconcile(peers_of(nodes, self_name=self.config.node_name))

    def _kick_policy(self, *_: Any) -> None:
        self._policy_changed.set()

    def _apply_policy(self, ruleset: str) -> None:
        with _maybe_in_netns(self.netns):
            nft = Nftables()
            try:
                apply_ruleset(nft, ruleset)
            finally:
                nft.close()

    async def _policy_loop(self, executor: ThreadPoolExecutor, pods: Informer, namespaces: Informer,
                           policies: Informer) -> None:
        """Recompile the node's NetworkPolicy table on every change; apply it when it differs."""
        loop = asyncio.get_running_loop()
        for source in (pods, namespaces, policies):
            await source.wait_for_sync()
        await self.conflist_written.wait()  # our podCIDR is known from here on
        while True:
            await self._policy_changed.wait()
            await asyncio.sleep(0.05)  # let a burst of changes (a Deployment scaling) settle into one sync
            self._policy_changed.clear()
            if self._reconciler is None:
                continue
            ruleset = compile_ruleset(policies=policies.store.list(), pods=pods.store.list(),
                                      namespaces=namespaces.store.list(),
                                      local_cidr=str(self._reconciler.own_pod_cidr))
            if ruleset == self._applied_policy:
                self.policy_applied.set()
                continue
            try:
                await loop.run_in_executor(executor, self._apply_policy, ruleset)
            except Exception:
                log.exception("network policy: applying the ruleset failed; retrying in 1s")
                loop.call_later(1.0, self._policy_changed.set)
                continue
            self._applied_policy = ruleset
            self.policy_applied.set()

    def collect_garbage(self, known_containers: set[str]) -> list[str]:
        """DEL (bridge + portmap, no namespace) for every attachment holding an address whose sandbox the
        runtime no longer has: what a crash between ADD and the runtime's bookkeeping, or a reboot, left.
        """
        path = self.config.cni_conf_dir / CONFLIST_NAME
        if not path.is_file():
            return []
        conflist = json.loads(path.read_text())
        bridge = {"cniVersion": conflist["cniVersion"], "name": conflist["name"], **conflist["plugins"][0]}
        stale = host_local.stale_attachments(host_local.parse_config(bridge), known_containers=known_containers,
                                             min_age=self.gc_min_age)
        done = []
        with _maybe_in_netns(self.netns):
            for container_id, ifname in sorted(stale):
                env = {"CNI_COMMAND": "DEL", "CNI_CONTAINERID": container_id, "CNI_IFNAME": ifname or "eth0",
                       "CNI_NETNS": "", "CNI_PATH": str(self.config.cni_bin_dir)}
                for plugin in reversed(conflist["plugins"]):  # DEL runs the chain in reverse
                    net = {"cniVersion": conflist["cniVersion"], "name": conflist["name"], **plugin}
                    code, out = plugins.run(str(plugin["type"]), env, json.dumps(net).encode())
                    if code != 0:
                        log.warning("pod network GC: DEL %s (%s) failed: %s", container_id, plugin["type"],
                                    out.decode(errors="replace").strip())
                done.append(container_id)
        return done

    async def _gc_loop(self, executor: ThreadPoolExecutor) -> None:
        loop = asyncio.get_running_loop()
        assert self.runtime is not None
        await self.conflist_written.wait()
        while True:
            try:
                sandboxes = await self.runtime.list_pod_sandbox()
                known = {sandbox.id for sandbox in sandboxes.items}
                removed = await loop.run_in_executor(executor, self.collect_garbage, known)
                if removed:
                    log.info("pod network GC: released the networking of %d gone sandboxes: %s", len(removed),
                             ", ".join(c[:12] for c in removed))
                    self.collected.extend(removed)
            except Exception:
                log.exception("pod network GC failed; next try in %.0fs", self.gc_interval)
            await asyncio.sleep(self.gc_interval)

    def _close_netlink(self) -> None:
        if self._netns_ipr is not None:
            self._netns_ipr.__exit__(None, None, None)
        self._ipr = self._netns_ipr = None

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        # pyroute2's blocking API runs its own event loop, so every netlink call happens on this thread
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pod-network")
        self.start_cni()
        informer = Informer(self.client.resource("", "v1", "nodes", namespaced=False))
        informer.add_handler(on_add=self._kick, on_update=self._kick, on_delete=self._kick)
        # NetworkPolicy needs every pod (peers live anywhere), the namespaces' labels and the policies
        policy_sources = [Informer(self.client.resource("", "v1", "pods")),
                          Informer(self.client.resource("", "v1", "namespaces", namespaced=False)),
                          Informer(self.client.resource("networking.k8s.io", "v1", "networkpolicies"))]
        for source in policy_sources:
            source.add_handler(on_add=self._kick_policy, on_update=self._kick_policy, on_delete=self._kick_policy)
        informers = [informer, *policy_sources]
        tasks = [asyncio.create_task(i.run()) for i in informers]
        tasks.append(asyncio.create_task(self._policy_loop(executor, *policy_sources)))
        if self.runtime is not None:
            tasks.append(asyncio.create_task(self._gc_loop(executor)))
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), RESYNC_SECONDS)
                self._changed.clear()
                me = informer.store.get(self.config.node_name)
                if me is None or not pod_cidr(me) or not (self.config.node_ip or node_ip(me)):
                    continue  # not registered yet, or the node IPAM controller has not assigned our podCIDR
                try:
                    await loop.run_in_executor(executor, self.reconcile, me, informer.store.list())
                    self.conflist_written.set()
                except Exception:
                    log.exception("pod network: reconciling failed; retrying in 1s")
                    loop.call_later(1.0, self._changed.set)
        finally:
            for i in informers:
                i.stop()
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            with contextlib.suppress(Exception):
                await loop.run_in_executor(executor, self._close_netlink)
            executor.shutdown(wait=False)
            self.stop_cni()


async def run_pod_network(*, config: AgentConfig, client: APIClient, runtime: RuntimeClient | None = None) -> None:
    """Install the CNI plugins, serve them, write the conflist, keep cross-node routes and NetworkPolicy
    until cancelled; with ``runtime``, also release the networking of sandboxes the runtime forgot."""
    await PodNetwork(config=config, client=client, runtime=runtime).run()
