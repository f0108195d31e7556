"""The ``portmap`` plugin (chained after bridge): a pod's hostPorts as DNAT in kubelite's nft table.

The runtime passes ``runtimeConfig.portMappings`` (``[{"hostPort", "containerPort", "protocol",
"hostIP"}]``, enabled by ``"capabilities": {"portMappings": true}`` in the conflist) and the bridge's
result as ``prevResult``. Each mapping becomes one element of a named map (see ``nat.py``); what was
added is also written to ``<dataDir>/<container>.<ifname>`` so that DEL can remove exactly those
elements even when the runtime no longer has the result. The plugin passes ``prevResult`` through.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
from pathlib import Path
from typing import Any

from kubelite.cni import nat
from kubelite.cni.spec import ERR_INVALID_CONFIG, ERR_UNKNOWN_CONTAINER, CNIError, Request, parse_prev_ips

DEFAULT_DATA_DIR = "/var/lib/cni/kubelite-portmap"


def _state_file(request: Request) -> Path:
    return Path(request.config.get("dataDir") or DEFAULT_DATA_DIR) / f"{request.container_id}.{request.ifname}"


def parse_mappings(request: Request, pod_ip: str) -> list[nat.HostPort]:
    raw = request.runtime_config.get("portMappings") or []
    if not isinstance(raw, list):
        raise CNIError(ERR_INVALID_CONFIG, "runtimeConfig.portMappings must be a list")
    ports = []
    for raw_entry in raw:
        # Go's JSON decoding matches keys case-insensitively and containerd 1.6 sends "HostPort": so do we
        entry = {str(k).lower(): v for k, v in raw_entry.items()} if isinstance(raw_entry, dict) else raw_entry
        try:
            protocol = str(entry.get("protocol") or "tcp").lower()
            host_port, container_port = int(entry["hostport"]), int(entry["containerport"])
            host_ip = str(entry.get("hostip") or "")
            if host_ip in ("0.0.0.0", "::"):
                host_ip = ""
            if host_ip and not isinstance(ipaddress.ip_address(host_ip), ipaddress.IPv4Address):
                continue  # an IPv6 hostIP maps nothing on an IPv4 pod network (as upstream)
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise CNIError(ERR_INVALID_CONFIG, "invalid port mapping", f"{raw_entry!r}: missing or bad {exc}")
        if protocol not in ("tcp", "udp", "sctp"):
            raise CNIError(ERR_INVALID_CONFIG, f"invalid port mapping protocol {protocol!r}", "tcp, udp or sctp")
        if not (0 < host_port < 65536 and 0 < container_port < 65536):
            raise CNIError(ERR_INVALID_CONFIG, "port mapping ports must be 1-65535", f"{entry!r}")
        ports.append(nat.HostPort(protocol=protocol, host_port=host_port, host_ip=host_ip, pod_ip=pod_ip,
                                  container_port=container_port))
    return ports


def _pod_ip(request: Request) -> str:
    prev = request.prev_result
    if prev is None:
        raise CNIError(ERR_INVALID_CONFIG, "portmap must be chained after a plugin that returns a result",
                       "prevResult is missing")
    ips = parse_prev_ips(prev)
    if not ips:
        raise CNIError(ERR_INVALID_CONFIG, "prevResult has no IPv4 address for portmap")
    return str(ips[0][0].ip)


def add(request: Request) -> dict[str, Any]:
    prev = request.prev_result
    ports = parse_mappings(request, _pod_ip(request)) if request.runtime_config.get("portMappings") else []
    if ports:
        nat.add_hostports(ports)
        state = _state_file(request)
        state.parent.mkdir(parents=True, exist_ok=True)
        tmp = state.with_suffix(".tmp")
        tmp.write_text(json.dumps([p.__dict__ for p in ports]))
        os.replace(tmp, state)
    return dict(prev or {})


def delete(request: Request) -> None:
    state = _state_file(request)
    ports: list[nat.HostPort] = []
    with contextlib.suppress(FileNotFoundError, ValueError, TypeError):
        ports = [nat.HostPort(**p) for p in json.loads(state.read_text())]
    if not ports and request.prev_result and request.runtime_config.get("portMappings"):
        with contextlib.suppress(CNIError):
            ports = parse_mappings(request, _pod_ip(request))
    nat.remove_hostports(ports)
    _forget_udp_flows(ports)
    with contextlib.suppress(FileNotFoundError):
        state.unlink()


def _forget_udp_flows(ports: list[nat.HostPort]) -> None:
    """UDP "connections" to a removed hostPort would keep their DNAT to the old pod until they time out:
    drop those conntrack entries (as the reference plugin does), best effort."""
    import shutil
    import subprocess

    tool = shutil.which("conntrack")
    if tool is None:
        return
    for port in ports:
        if port.protocol == "udp":
            subprocess.run([tool, "-D", "-p", "udp", "--orig-port-dst", str(port.host_port)],
                           capture_output=True, check=False, timeout=10)


def check(request: Request) -> None:
    ports = parse_mappings(request, _pod_ip(request)) if request.runtime_config.get("portMappings") else []
    missing = nat.hostports_present(ports)
    if missing:
        raise CNIError(ERR_UNKNOWN_CONTAINER, "hostPort mappings missing",
                       ", ".join(f"{p.protocol}/{p.host_port}" for p in missing))
