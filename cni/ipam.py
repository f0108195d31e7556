"""Delegation to the IPAM plugin a network configuration names (SPEC.md, "IP Allocation").

``host-local`` runs in-process (no exec, no second interpreter); any other type is executed from
``CNI_PATH`` exactly as the spec describes: same environment, the network configuration on stdin,
its result or error passed back up.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

from kubelite.cni import host_local
from kubelite.cni.spec import ERR_INVALID_CONFIG, ERR_IO, CNIError, Request


def _type(request: Request) -> str:
    section = request.config.get("ipam")
    if not isinstance(section, dict) or not section.get("type"):
        raise CNIError(ERR_INVALID_CONFIG, "network configuration has no \"ipam\" section with a \"type\"")
    return str(section["type"])


def add(request: Request) -> dict[str, Any]:
    if _type(request) == "host-local":
        return host_local.allocate(host_local.parse_config(request.config),
                                   container_id=request.container_id, ifname=request.ifname)
    result = _exec(request, "ADD")
    assert result is not None
    return result


def delete(request: Request) -> None:
    if _type(request) == "host-local":
        host_local.release(host_local.parse_config(request.config),
                           container_id=request.container_id, ifname=request.ifname)
        return
    _exec(request, "DEL")


def check(request: Request) -> None:
    if _type(request) == "host-local":
        host_local.check(host_local.parse_config(request.config),
                         container_id=request.container_id, ifname=request.ifname)
        return
    _exec(request, "CHECK")


def _exec(request: Request, command: str) -> dict[str, Any] | None:
    plugin = _type(request)
    if "/" in plugin:
        raise CNIError(ERR_INVALID_CONFIG, f"invalid ipam type {plugin!r}")
    for directory in request.path:
        candidate = os.path.join(directory, plugin)
        if os.access(candidate, os.X_OK):
            break
    else:
        raise CNIError(ERR_INVALID_CONFIG, f"failed to find plugin \"{plugin}\" in path {request.path}")
    env = dict(os.environ, CNI_COMMAND=command, CNI_CONTAINERID=request.container_id, CNI_NETNS=request.netns,
               CNI_IFNAME=request.ifname, CNI_PATH=":".join(request.path),
               CNI_ARGS=";".join(f"{k}={v}" for k, v in request.args.items()))
    proc = subprocess.run([candidate], input=request.raw_config, capture_output=True, env=env, check=False)
    body: Any = None
    if proc.stdout.strip():
        try:
            body = json.loads(proc.stdout)
        except ValueError as exc:
            raise CNIError(ERR_IO, f"IPAM plugin {plugin} printed invalid JSON", str(exc))
    if proc.returncode != 0:
        if isinstance(body, dict) and "code" in body:
            raise CNIError(int(body["code"]), str(body.get("msg", "")), str(body.get("details", "")))
        raise CNIError(ERR_IO, f"IPAM plugin {plugin} failed", proc.stderr.decode(errors="replace").strip())
    return body if isinstance(body, dict) else None
