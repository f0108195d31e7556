"""Deleting stale UDP conntrack entries with the ``conntrack`` tool (Debian ``conntrack``).

UDP has no connection end, so after an endpoint goes away the kernel keeps sending a client's
datagrams to the dead address as long as the flow's conntrack entry lives. kube-proxy deletes the
entries that were DNATed to the removed endpoint; and when a UDP service gets its first endpoint,
entries created while it rejected traffic are removed so clients are not stuck on them. Same here.

The tool exits 1 when nothing matched; that is not an error. A missing tool is logged once. The tool
works on IPv4 unless told ``-f ipv6``: the family comes from the address, or is given for NodePorts.
"""

from __future__ import annotations

import logging
import shutil
import subprocess

log = logging.getLogger(__name__)

_warned = False


def _run(args: list[str]) -> None:
    global _warned
    tool = shutil.which("conntrack")
    if tool is None:
        if not _warned:
            log.warning("conntrack tool not found: stale UDP flows are not cleared (install conntrack)")
            _warned = True
        return
    done = subprocess.run([tool, *args], capture_output=True, text=True, timeout=10, check=False)
    if done.returncode not in (0, 1):
        log.warning("conntrack %s failed: %s", " ".join(args), done.stderr.strip())


def _family(address: str, family: str) -> list[str]:
    return ["-f", "ipv6"] if family == "ip6" or ":" in address else []


def delete_endpoint_flows(*, protocol: str, service_ip: str = "", node_port: int = 0, endpoint_ip: str,
                          family: str = "ip") -> None:
    """Drop flows to ``service_ip`` (or to any address on ``node_port``) that were DNATed to ``endpoint_ip``."""
    fam = _family(endpoint_ip, family)
    if service_ip:
        _run(["-D", *fam, "-p", protocol, "--orig-dst", service_ip, "--dst-nat", endpoint_ip])
    if node_port:
        _run(["-D", *fam, "-p", protocol, "--orig-port-dst", str(node_port), "--dst-nat", endpoint_ip])


def delete_service_flows(*, protocol: str, service_ip: str = "", node_port: int = 0, family: str = "ip") -> None:
    """Drop every flow to ``service_ip`` (or to ``node_port``): used when a UDP service gets endpoints."""
    if service_ip:
        _run(["-D", *_family(service_ip, family), "-p", protocol, "--orig-dst", service_ip])
    if node_port:
        _run(["-D", *_family("", family), "-p", protocol, "--orig-port-dst", str(node_port)])
