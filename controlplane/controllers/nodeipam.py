"""Node IPAM: give every Node a pod CIDR carved out of the cluster CIDR (upstream's node-ipam-controller,
``pkg/controller/nodeipam/ipam/range_allocator.go``).

The cluster CIDR (``--cluster-cidr``, default ``10.42.0.0/16``) is cut into equal blocks of
``node_mask`` bits (default ``/24``). A Node without ``spec.podCIDR`` gets the lowest free block, written
as ``spec.podCIDR`` and ``spec.podCIDRs`` with one merge patch; a Node that already has one keeps it.

Which blocks are taken is not remembered across restarts: it is derived on every allocation from the
informer's cache (every Node's ``spec.podCIDRs``, whatever their size, inside the cluster CIDR or
overlapping it), plus the blocks this process has just patched onto Nodes whose update the cache has not
shown yet. A deleted Node therefore frees its block as soon as its deletion reaches the cache.
Allocation runs under one lock so that two workers never hand out the same block.

Where upstream differs, and why:

* upstream's ``cidrset`` hands out blocks round-robin from a moving cursor so that a just-freed block is
  reused last; here the lowest free block is taken, which keeps the state a pure function of the cache
  (a restarted controller allocates exactly as the old one would have). The CNI plugins tear down a
  deleted node's routes with the node, so early reuse is safe.
* a Node whose existing podCIDR lies outside the cluster CIDR or overlaps another Node's keeps it (as
  upstream, which never rewrites a podCIDR; the API server refuses changes to it anyway); a Warning
  Event tells the operator, once per Node and CIDR.
* when no block is left the Node gets a Warning Event ``CIDRNotAvailable`` (upstream's reason) and the
  reconcile fails, so the work queue retries it with per-item exponential back-off; deleting any Node
  also re-queues every Node still waiting, so a freed block is handed out without waiting for the
  back-off.
* the service CIDR is not carved out of the cluster CIDR (upstream's ``filterOutServiceRange``): kubelite
  keeps the two apart by configuration (``10.42.0.0/16`` and ``10.43.0.0/16``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from typing import Any, Final

from kubelite.client import APIClient, APIStatusError, EventRecorder, Informer, is_not_found
from kubelite.controlplane.controllers.base import Controller

log = logging.getLogger(__name__)

Obj = dict[str, Any]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_CLUSTER_CIDR: Final = "10.42.0.0/16"
DEFAULT_NODE_MASK: Final = 24
# upstream's cidrset refuses more than 16 bits between the cluster and node masks (65536 blocks): the
# allocation scan and the bitmap stay small
MAX_MASK_DIFFERENCE: Final = 16

REASON_CIDR_NOT_AVAILABLE: Final = "CIDRNotAvailable"
REASON_CIDR_OUTSIDE_CLUSTER: Final = "PodCIDROutsideClusterCIDR"
REASON_CIDR_CONFLICT: Final = "PodCIDRConflict"
EVENT_COMPONENT: Final = "node-ipam-controller"


class CIDRNotAvailableError(Exception):
    """The cluster CIDR has no free block left for a Node."""


class ClusterCIDR:
    """The cluster CIDR cut into equal blocks, addressed by index (block ``i`` starts at base + i * size)."""

    def __init__(self, *, cidr: str, node_mask: int) -> None:
        try:
            network = ipaddress.ip_network(cidr, strict=True)
        except ValueError as exc:
            raise ValueError(f"cluster_cidr: {cidr!r} is not a network in CIDR notation with no host bits "
                             f"set, e.g. {DEFAULT_CLUSTER_CIDR!r}: {exc}") from None
        if not network.prefixlen < node_mask <= network.max_prefixlen:
            raise ValueError(f"node_mask: {node_mask} must be longer than the cluster CIDR's prefix "
                             f"/{network.prefixlen} and at most /{network.max_prefixlen}")
        if node_mask - network.prefixlen > MAX_MASK_DIFFERENCE:
            raise ValueError(f"node_mask: /{node_mask} cuts {cidr} into 2^{node_mask - network.prefixlen} blocks; "
                             f"at most {MAX_MASK_DIFFERENCE} bits between the cluster CIDR's prefix and the node "
                             f"mask are allowed (node_mask <= {network.prefixlen + MAX_MASK_DIFFERENCE})")
        self.network: Network = network
        self.node_mask = node_mask
        self.size = 1 << (network.max_prefixlen - node_mask)
        self.count = 1 << (node_mask - network.prefixlen)
        self._base = int(network.network_address)

    def block(self, index: int) -> Network:
        return ipaddress.ip_network((self._base + index * self.size, self.node_mask))

    def indices_overlapping(self, network: Network) -> range:
        """The blocks that share any address with ``network`` (empty when it lies outside or is another family)."""
        if network.version != self.network.version or not network.overlaps(self.network):
            return range(0)
        first = max(int(network.network_address), self._base)
        last = min(int(network.broadcast_address), int(self.network.broadcast_address))
        return range((first - self._base) // self.size, (last - self._base) // self.size + 1)

    def lowest_free(self, used: set[int]) -> int | None:
        return next((i for i in range(self.count) if i not in used), None)


def pod_cidrs(node: Obj) -> list[str]:
    """A Node's pod CIDRs: ``spec.podCIDRs``, or the older single ``spec.podCIDR``."""
    spec = node.get("spec") or {}
    cidrs = [str(c) for c in spec.get("podCIDRs") or [] if c]
    if not cidrs and spec.get("podCIDR"):
        cidrs = [str(spec["podCIDR"])]
    return cidrs


def parse_cidr(text: str) -> Network | None:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


class NodeIPAMController(Controller):
    name = "nodeipam"

    def __init__(self, client: APIClient, *, cluster_cidr: str = DEFAULT_CLUSTER_CIDR,
                 node_mask: int = DEFAULT_NODE_MASK, recorder: EventRecorder | None = None) -> None:
        super().__init__()
        self.client = client
        self.cidr = ClusterCIDR(cidr=cluster_cidr, node_mask=node_mask)
        self.nodes = client.resource("", "v1", "nodes", namespaced=False)
        self.recorder: EventRecorder = recorder or EventRecorder(client, component=EVENT_COMPONENT,
                                                                 host=socket.gethostname())
        self.informer = Informer(self.nodes)
        self.informer.add_handler(on_add=self.enqueue, on_update=lambda _old, new: self.enqueue(new),
                                  on_delete=self._on_delete)
        self.informers.append(self.informer)
        # blocks patched onto a Node whose update the cache has not delivered yet: node name -> indices
        self._pending: dict[str, set[int]] = {}
        # (node, podCIDR) pairs already warned about, so each problem is reported once, not per update
        self._warned: set[tuple[str, str]] = set()
        self._allocating = asyncio.Lock()

    def _on_delete(self, node: Obj) -> None:
        self.enqueue(node)
        # a block was freed: nodes waiting in back-off for one should not wait for their next retry
        for waiting in self.informer.store.list():
            if not pod_cidrs(waiting):
                self.enqueue(waiting)

    async def reconcile(self, key: str) -> float | None:
        node = self.informer.store.get(key)
        if node is None:
            self._pending.pop(key, None)
            self._warned = {w for w in self._warned if w[0] != key}
            return None
        if pod_cidrs(node):
            self._pending.pop(key, None)
            self._check_existing(node)
            return None
        async with self._allocating:
            await self._allocate(node)
        return None

    def _used(self, *, except_node: str | None = None) -> dict[int, str]:
        """Block index -> the name of a Node holding it, from the cache plus not yet observed patches."""
        used: dict[int, str] = {}
        for node in self.informer.store.list():
            name = str(node["metadata"]["name"])
            if name == except_node:
                continue
            for text in pod_cidrs(node):
                network = parse_cidr(text)
                if network is not None:
                    used.update(dict.fromkeys(self.cidr.indices_overlapping(network), name))
        for name, indices in self._pending.items():
            if name != except_node:
                used.update(dict.fromkeys(indices, name))
        return used

    async def _allocate(self, node: Obj) -> None:
        name = str(node["metadata"]["name"])
        if name in self._pending:  # patched already; its update has not reached the cache yet
            return
        index = self.cidr.lowest_free(set(self._used()))
        if index is None:
            message = (f"Node {name}: no free /{self.cidr.node_mask} range left in the cluster CIDR "
                       f"{self.cidr.network} (all {self.cidr.count} are assigned)")
            self.recorder.event(_as_node(node), event_type="Warning", reason=REASON_CIDR_NOT_AVAILABLE,
                                message=message)
            raise CIDRNotAvailableError(message)
        block = str(self.cidr.block(index))
        self._pending[name] = {index}
        try:
            await self.nodes.patch(name, {"spec": {"podCIDR": block, "podCIDRs": [block]}})
        except APIStatusError as exc:
            self._pending.pop(name, None)
            if is_not_found(exc):  # deleted meanwhile: its delete event will come through the cache
                return
            raise
        except BaseException:
            self._pending.pop(name, None)
            raise
        log.info("nodeipam: assigned pod CIDR %s to node %s", block, name)

    def _check_existing(self, node: Obj) -> None:
        """Warn (once) about a podCIDR outside the cluster CIDR or overlapping another Node's."""
        name = str(node["metadata"]["name"])
        used = self._used(except_node=name)
        for text in pod_cidrs(node):
            if (name, text) in self._warned:
                continue
            network = parse_cidr(text)
            if network is None:
                continue  # the API server validates podCIDRs; nothing sensible to check
            overlapping = self.cidr.indices_overlapping(network)
            if not overlapping or not network.subnet_of(self.cidr.network):  # type: ignore[arg-type]
                reason = REASON_CIDR_OUTSIDE_CLUSTER
                message = (f"Node {name} has pod CIDR {text}, which is not inside the cluster CIDR "
                           f"{self.cidr.network}; it keeps it")
            else:
                holders = sorted({used[i] for i in overlapping if i in used})
                if not holders:
                    continue
                reason = REASON_CIDR_CONFLICT
                message = (f"Node {name} has pod CIDR {text}, which overlaps the pod CIDR of node(s) "
                           f"{', '.join(holders)}; it keeps it")
            self._warned.add((name, text))
            log.warning("nodeipam: %s", message)
            self.recorder.event(_as_node(node), event_type="Warning", reason=reason, message=message)


def _as_node(node: Obj) -> Obj:
    """The Node with its type information, which the Event's involvedObject needs (caches may drop it)."""
    return {**node, "apiVersion": node.get("apiVersion") or "v1", "kind": node.get("kind") or "Node"}
