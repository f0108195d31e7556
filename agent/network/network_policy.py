"""NetworkPolicy (networking.k8s.io/v1) enforced on one node in nftables, for the pods it runs.

Semantics are upstream's: a pod is isolated for ingress (egress) once any policy of its namespace
selects it with that policy type; an isolated pod accepts only what the union of those policies'
rules allows. A rule's peers are pods (``podSelector`` in the policy's namespace, ``namespaceSelector``
for other namespaces, both for pods in matching namespaces), ``ipBlock`` CIDRs minus ``except``, or
anything when ``from``/``to`` is empty; its ports are protocol + port/range or a named container port,
or every port when ``ports`` is empty. ``policyTypes`` defaults to Ingress, plus Egress when the policy
has egress rules. Replies of allowed connections always pass (conntrack); traffic the node itself
sends to a pod (kubelet probes) is not filtered, as in most implementations.

Where: every pod packet that crosses this node passes the ``forward`` hook (bridged pod-to-pod
traffic too, through br_netfilter, which the pod network enables), so one ``table ip kubelite-netpol``
holds two named sets of isolated local pod IPs, jumps into an ``egress`` chain (allowed traffic
``return``s, so the destination's ingress is checked as well) and an ``ingress`` chain (allowed traffic
is accepted), each ending in ``drop``. One rule per (policy rule, peer group, protocol) with the
pods' addresses as anonymous sets keeps the rule count proportional to the policies, not the pods.

:func:`compile_ruleset` is a pure function of Pods, Namespaces and NetworkPolicies (plain API dicts);
:func:`apply_ruleset` replaces the table in one transaction.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubelite.api.labels import LabelSelectorError, Selector, everything, from_label_selector
from kubelite.native.nftables import Nftables

TABLE = "kubelite-netpol"
PROTOCOLS = ("TCP", "UDP", "SCTP")


@dataclass(frozen=True)
class PodInfo:
    namespace: str
    name: str
    labels: Mapping[str, str]
    ips: tuple[str, ...]
    named_ports: Mapping[str, tuple[tuple[str, int], ...]] = field(default_factory=dict)
    """container port name -> ((protocol, number), ...)"""


def pod_info(pod: Mapping[str, Any]) -> PodInfo | None:
    """The policy-relevant facts of a Pod; ``None`` when it has no pod-network IPv4 address."""
    spec, status, meta = pod.get("spec") or {}, pod.get("status") or {}, pod.get("metadata") or {}
    if spec.get("hostNetwork") or status.get("phase") in ("Succeeded", "Failed"):
        return None
    ips = []
    for entry in [{"ip": status.get("podIP")}, *(status.get("podIPs") or [])]:
        ip = entry.get("ip") if isinstance(entry, dict) else None
        try:
            if ip and isinstance(ipaddress.ip_address(ip), ipaddress.IPv4Address) and ip not in ips:
                ips.append(ip)
        except ValueError:
            continue
    if not ips:
        return None
    named: dict[str, list[tuple[str, int]]] = {}
    for container in spec.get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") and port.get("containerPort"):
                named.setdefault(port["name"], []).append((port.get("protocol") or "TCP", int(port["containerPort"])))
    return PodInfo(namespace=meta.get("namespace", "default"), name=meta.get("name", ""),
                   labels=dict(meta.get("labels") or {}), ips=tuple(ips),
                   named_ports={k: tuple(v) for k, v in named.items()})


def _selector(obj: Any) -> Selector:
    try:
        return from_label_selector(obj if obj is not None else {})
    except LabelSelectorError:
        return from_label_selector(None)  # an invalid selector (the API validates them) selects nothing


def _nft_set(items: Iterable[str]) -> str:
    values = sorted(set(items))
    return values[0] if len(values) == 1 else "{ " + ", ".join(values) + " }"


class _Compiler:
    def __init__(self, *, pods: list[PodInfo], namespaces: Mapping[str, Mapping[str, str]], local: list[PodInfo]):
        self.pods = pods
        self.namespaces = namespaces
        self.local = local

    def peer_matches(self, peers: list[dict[str, Any]] | None, *, namespace: str, field_name: str) -> list[str]:
        """nft match expressions, one per peer group ([""] = any peer, [] = no peer at all)."""
        if not peers:
            return [""]
        ips: set[str] = set()
        matches: list[str] = []
        for peer in peers:
            block = peer.get("ipBlock")
            if block:
                try:
                    cidr = ipaddress.ip_network(block["cidr"], strict=False)
                except (KeyError, ValueError):
                    continue
                if not isinstance(cidr, ipaddress.IPv4Network):
                    continue
                match = f"ip {field_name} {cidr}"
                excepts = [str(ipaddress.ip_network(e, strict=False)) for e in block.get("except") or []
                           if ":" not in e]
                if excepts:
                    match += f" ip {field_name} != {_nft_set(excepts)}"
                matches.append(match)
                continue
            pod_selector = _selector(peer["podSelector"]) if "podSelector" in peer else everything()
            if "namespaceSelector" in peer:
                ns_selector = _selector(peer["namespaceSelector"])
                namespaces = {n for n, labels in self.namespaces.items() if ns_selector.matches(labels)}
            else:
                namespaces = {namespace}
            ips.update(ip for p in self.pods if p.namespace in namespaces and pod_selector.matches(p.labels)
                       for ip in p.ips)
        if ips:
            matches.insert(0, f"ip {field_name} {_nft_set(ips)}")
        return matches

    @staticmethod
    def port_matches(ports: list[dict[str, Any]] | None, *, named: Iterable[PodInfo]) -> list[str]:
        """nft match expressions, one per protocol ([""] = every port, [] = nothing matches)."""
        if not ports:
            return [""]
        by_proto: dict[str, set[str]] = {}
        whole_proto: set[str] = set()
        named_pods = list(named)
        for entry in ports:
            proto = str(entry.get("protocol") or "TCP").upper()
            if proto not in PROTOCOLS:
                continue
            port = entry.get("port")
            if port is None:
                whole_proto.add(proto)
            elif isinstance(port, int) or str(port).isdigit():
                end = entry.get("endPort")
                by_proto.setdefault(proto, set()).add(f"{port}-{end}" if end else str(port))
            else:  # a named port: whatever number the pods in question give that name
                for pod in named_pods:
                    for p_proto, number in pod.named_ports.get(str(port), ()):
                        if p_proto.upper() == proto:
                            by_proto.setdefault(proto, set()).add(str(number))
        out = [f"meta l4proto {p.lower()}" for p in sorted(whole_proto)]
        out += [f"meta l4proto {p.lower()} th dport {_nft_set(v)}" for p, v in sorted(by_proto.items())
                if p not in whole_proto]
        return out

    def rules(self, *, policy_ns: str, targets: list[PodInfo], rules: list[dict[str, Any]], ingress: bool) -> list[str]:
        self_field, peer_field = ("daddr", "saddr") if ingress else ("saddr", "daddr")
        verdict = "accept" if ingress else "return"
        lines = []
        for rule in rules:
            peers = rule.get("from" if ingress else "to")
            ports = rule.get("ports")
            has_named = any(isinstance(p.get("port"), str) and not str(p.get("port")).isdigit()
                            for p in ports or [])
            peer_exprs = self.peer_matches(peers, namespace=policy_ns, field_name=peer_field)
            # an ingress named port is the target's own; an egress one is the destination pod's
            groups = [[t] for t in targets] if has_named and ingress else [targets]
            for group in groups:
                named = group if ingress else self.pods
                for peer in peer_exprs:
                    for port in self.port_matches(ports, named=named):
                        own = f"ip {self_field} {_nft_set(ip for t in group for ip in t.ips)}"
                        lines.append(" ".join(part for part in (own, peer, port, verdict) if part))
        return lines


def compile_ruleset(*, policies: Iterable[Mapping[str, Any]], pods: Iterable[Mapping[str, Any]],
                    namespaces: Iterable[Mapping[str, Any]], local_cidr: str) -> str:
    """The whole ``table ip kubelite-netpol`` for the pods of ``local_cidr``, as nft commands."""
    infos = [info for pod in pods if (info := pod_info(pod)) is not None]
    network = ipaddress.ip_network(local_cidr)
    local = [p for p in infos if any(ipaddress.ip_address(ip) in network for ip in p.ips)]
    ns_labels = {(ns.get("metadata") or {}).get("name", ""): dict((ns.get("metadata") or {}).get("labels") or {})
                 for ns in namespaces}
    for ns_name, labels in ns_labels.items():  # upstream's automatic label, used by namespaceSelectors
        labels.setdefault("kubernetes.io/metadata.name", ns_name)
    compiler = _Compiler(pods=infos, namespaces=ns_labels, local=local)
    ingress_isolated: set[str] = set()
    egress_isolated: set[str] = set()
    ingress_rules: list[str] = []
    egress_rules: list[str] = []
    ordered = sorted(policies, key=lambda p: ((p.get("metadata") or {}).get("namespace", ""),
                                              (p.get("metadata") or {}).get("name", "")))
    for policy in ordered:
        namespace = (policy.get("metadata") or {}).get("namespace", "default")
        spec = policy.get("spec") or {}
        selector = _selector(spec.get("podSelector"))
        targets = [p for p in local if p.namespace == namespace and selector.matches(p.labels)]
        if not targets:
            continue
        types = spec.get("policyTypes") or (["Ingress", "Egress"] if spec.get("egress") else ["Ingress"])
        target_ips = {ip for t in targets for ip in t.ips if ipaddress.ip_address(ip) in network}
        if "Ingress" in types:
            ingress_isolated |= target_ips
            ingress_rules += compiler.rules(policy_ns=namespace, targets=targets, rules=spec.get("ingress") or [],
                                            ingress=True)
        if "Egress" in types:
            egress_isolated |= target_ips
            egress_rules += compiler.rules(policy_ns=namespace, targets=targets, rules=spec.get("egress") or [],
                                           ingress=False)
    t = f"ip {TABLE}"
    lines = [
        f"add table {t}",
        f"add set {t} ingress_isolated {{ type ipv4_addr; }}",
        f"add set {t} egress_isolated {{ type ipv4_addr; }}",
        f"add chain {t} forward {{ type filter hook forward priority 0; policy accept; }}",
        f"add chain {t} ingress",
        f"add chain {t} egress",
        f"add rule {t} forward ct state established,related accept",
        f"add rule {t} forward ip saddr @egress_isolated jump egress",
        f"add rule {t} forward ip daddr @ingress_isolated jump ingress",
    ]
    if ingress_isolated:
        lines.append(f"add element {t} ingress_isolated {{ {', '.join(sorted(ingress_isolated))} }}")
    if egress_isolated:
        lines.append(f"add element {t} egress_isolated {{ {', '.join(sorted(egress_isolated))} }}")
    lines += [f"add rule {t} egress {rule}" for rule in egress_rules] + [f"add rule {t} egress drop"]
    lines += [f"add rule {t} ingress {rule}" for rule in ingress_rules] + [f"add rule {t} ingress drop"]
    return "\n".join(lines) + "\n"


def apply_ruleset(nft: Nftables, ruleset: str) -> None:
    """Replace the table atomically: delete and re-create it in one transaction."""
    nft.run(f"add table ip {TABLE}\ndelete table ip {TABLE}\n" + ruleset)
