"""One entry for every kubelite CNI plugin: a call in (name, environment, stdin), exit code and stdout out.

Both ways a plugin runs go through :func:`run`: the resident server (the agent, which keeps netlink
and nftables contexts open) and the in-process fallback (``python -m kubelite.cni``) when no server
answers. Errors become the spec's error document with a non-zero exit; an unexpected exception is
reported as code 100 with its message, never as a traceback on stdout.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from kubelite.cni import host_local
from kubelite.cni.spec import (
    ERR_INTERNAL,
    ERR_INVALID_CONFIG,
    CNIError,
    Request,
    convert_result,
    encode_output,
    parse_request,
    version_result,
)

PLUGINS = ("bridge", "host-local", "loopback", "portmap")


def _valid_attachments(request: Request) -> set[tuple[str, str]]:
    raw = request.config.get("cni.dev/valid-attachments") or []
    try:
        return {(str(a["containerID"]), str(a["ifname"])) for a in raw}
    except (KeyError, TypeError) as exc:
        raise CNIError(ERR_INVALID_CONFIG, "invalid cni.dev/valid-attachments", str(exc))


def _ipam_gc(request: Request) -> None:
    if isinstance(request.config.get("ipam"), dict) and request.config["ipam"].get("type") == "host-local":
        host_local.gc(host_local.parse_config(request.config), valid=_valid_attachments(request))


def _ipam_status(request: Request) -> None:
    if isinstance(request.config.get("ipam"), dict) and request.config["ipam"].get("type") == "host-local":
        host_local.status(host_local.parse_config(request.config))


def _host_local(request: Request) -> dict[str, Any] | None:
    config = host_local.parse_config(request.config)
    if request.command == "ADD":
        return host_local.allocate(config, container_id=request.container_id, ifname=request.ifname)
    if request.command == "DEL":
        host_local.release(config, container_id=request.container_id, ifname=request.ifname)
    elif request.command == "CHECK":
        host_local.check(config, container_id=request.container_id, ifname=request.ifname)
    elif request.command == "GC":
        host_local.gc(config, valid=_valid_attachments(request))
    elif request.command == "STATUS":
        host_local.status(config)
    return None


# The plugin modules are imported on first use: pyroute2 alone costs ~0.4 s to import, which the
# in-process fallback would otherwise pay even for VERSION or a host-local call.
def _bridge(request: Request) -> dict[str, Any] | None:
    from kubelite.cni import bridge

    if request.command == "ADD":
        return bridge.add(request)
    if request.command == "DEL":
        bridge.delete(request)
    elif request.command == "CHECK":
        bridge.check(request)
    elif request.command == "GC":
        _ipam_gc(request)
    elif request.command == "STATUS":
        _ipam_status(request)
    return None


def _loopback(request: Request) -> dict[str, Any] | None:
    from kubelite.cni import loopback

    if request.command == "ADD":
        return loopback.add(request)
    if request.command == "DEL":
        loopback.delete(request)
    elif request.command == "CHECK":
        loopback.check(request)
    return None


def _portmap(request: Request) -> dict[str, Any] | None:
    from kubelite.cni import portmap

    if request.command == "ADD":
        return portmap.add(request)
    if request.command == "DEL":
        portmap.delete(request)
    elif request.command == "CHECK":
        portmap.check(request)
    return None


HANDLERS: dict[str, Callable[[Request], dict[str, Any] | None]] = {
    "bridge": _bridge, "host-local": _host_local, "loopback": _loopback, "portmap": _portmap,
}


def run(plugin: str, env: Mapping[str, str], stdin: bytes) -> tuple[int, bytes]:
    """Run one CNI call of ``plugin``; returns (exit code, stdout)."""
    version = "1.0.0"
    try:
        handler = HANDLERS.get(plugin)
        if handler is None:
            raise CNIError(ERR_INVALID_CONFIG, f"unknown kubelite CNI plugin {plugin!r}",
                           "one of " + ", ".join(PLUGINS))
        request = parse_request(env, stdin)
        version = request.version
        if request.command == "VERSION":
            return 0, encode_output(version_result(version))
        config_type = request.config.get("type")
        if config_type and config_type != plugin:
            raise CNIError(ERR_INVALID_CONFIG, f"plugin {plugin} was given a configuration of type {config_type!r}")
        result = handler(request)
        return 0, (encode_output(convert_result(result, version)) if request.command == "ADD" and result is not None
                   else b"")
    except CNIError as exc:
        return 1, encode_output(exc.to_json(version))
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        return 1, encode_output(CNIError(ERR_INTERNAL, f"{plugin}: {type(exc).__name__}: {exc}").to_json(version))
