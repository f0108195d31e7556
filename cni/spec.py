"""The CNI protocol as the plugins see it: one request in, one result or error out.

A CNI call is an environment (``CNI_COMMAND``, ``CNI_CONTAINERID``, ``CNI_NETNS``, ``CNI_IFNAME``,
``CNI_ARGS``, ``CNI_PATH``) plus a network configuration on stdin; the answer is a JSON document on
stdout and an exit code (SPEC.md, "Execution Protocol"). This module turns the first into a typed
:class:`Request`, and results and :class:`CNIError` into the bytes the caller expects, in the version
the configuration asked for. It imports only the standard library because the in-process fallback
entry (``python -m kubelite.cni``) loads it on every call.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Every version whose result format we can produce (0.3.0 onwards shares one shape; 0.1/0.2 do not).
SUPPORTED_VERSIONS = ("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")
CURRENT_VERSION = "1.0.0"

# Well-known error codes (SPEC.md, "Error"); 1-99 are reserved for the spec.
ERR_INCOMPATIBLE_VERSION = 1
ERR_UNSUPPORTED_FIELD = 2
ERR_UNKNOWN_CONTAINER = 3
ERR_INVALID_ENV = 4
ERR_IO = 5
ERR_DECODE = 6
ERR_INVALID_CONFIG = 7
ERR_TRY_AGAIN = 11
ERR_PLUGIN_NOT_AVAILABLE = 50
# Plugin-specific codes start at 100.
ERR_INTERNAL = 100
ERR_NO_ADDRESSES = 101

COMMANDS = ("ADD", "DEL", "CHECK", "VERSION", "GC", "STATUS")
_CONTAINER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


class CNIError(Exception):
    """A failure reported to the runtime as ``{"code", "msg", "details"}`` with a non-zero exit."""

    def __init__(self, code: int, msg: str, details: str = "") -> None:
        super().__init__(msg if not details else f"{msg}: {details}")
        self.code = code
        self.msg = msg
        self.details = details

    def to_json(self, version: str) -> dict[str, Any]:
        body: dict[str, Any] = {"cniVersion": version, "code": self.code, "msg": self.msg}
        if self.details:
            body["details"] = self.details
        return body


@dataclass
class Request:
    """One CNI call: the command, its environment, and the parsed configuration."""

    command: str
    container_id: str = ""
    netns: str = ""
    ifname: str = ""
    args: dict[str, str] = field(default_factory=dict)
    path: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    raw_config: bytes = b""

    @property
    def version(self) -> str:
        return str(self.config.get("cniVersion") or CURRENT_VERSION)

    @property
    def network_name(self) -> str:
        return str(self.config.get("name", ""))

    @property
    def prev_result(self) -> dict[str, Any] | None:
        prev = self.config.get("prevResult")
        return prev if isinstance(prev, dict) else None

    @property
    def runtime_config(self) -> dict[str, Any]:
        rc = self.config.get("runtimeConfig")
        return rc if isinstance(rc, dict) else {}


def parse_request(env: Mapping[str, str], stdin: bytes) -> Request:
    """Validate the environment and stdin of a CNI call; raise :class:`CNIError` saying what is wrong."""
    command = env.get("CNI_COMMAND", "")
    if not command:
        raise CNIError(ERR_INVALID_ENV, "required env variables [CNI_COMMAND] missing")
    if command not in COMMANDS:
        raise CNIError(ERR_INVALID_ENV, f"unknown CNI_COMMAND {command!r}", "supported: " + ", ".join(COMMANDS))
    request = Request(command=command, container_id=env.get("CNI_CONTAINERID", ""),
                      netns=env.get("CNI_NETNS", ""), ifname=env.get("CNI_IFNAME", ""),
                      path=[p for p in env.get("CNI_PATH", "").split(":") if p], raw_config=stdin)
    if command == "VERSION":
        if stdin.strip():
            request.config = _decode_config(stdin)
        return request
    required = {"ADD": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"),
                "CHECK": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"),
                "DEL": ("CNI_CONTAINERID", "CNI_IFNAME")}.get(command, ())
    missing = [name for name in required if not env.get(name)]
    if missing:
        raise CNIError(ERR_INVALID_ENV, f"required env variables [{','.join(missing)}] missing")
    if request.container_id and not _CONTAINER_ID.match(request.container_id):
        raise CNIError(ERR_INVALID_ENV, "invalid CNI_CONTAINERID",
                       f"{request.container_id!r}: must be alphanumeric with '-', '_' or '.'")
    if request.ifname:
        validate_ifname(request.ifname)
    request.args = parse_cni_args(env.get("CNI_ARGS", ""))
    request.config = _decode_config(stdin)
    version = request.version
    if version not in SUPPORTED_VERSIONS:
        raise CNIError(ERR_INCOMPATIBLE_VERSION, "incompatible CNI versions",
                       f"config is {version!r}, plugin supports {list(SUPPORTED_VERSIONS)}")
    if command == "CHECK" and _version_tuple(version) < (0, 4, 0):
        raise CNIError(ERR_INCOMPATIBLE_VERSION, "CHECK needs cniVersion 0.4.0 or later", f"config is {version!r}")
    if command in ("GC", "STATUS") and _version_tuple(version) < (1, 1, 0):
        raise CNIError(ERR_INCOMPATIBLE_VERSION, f"{command} needs cniVersion 1.1.0 or later",
                       f"config is {version!r}")
    if not request.network_name:
        raise CNIError(ERR_INVALID_CONFIG, "network configuration has no \"name\"")
    return request


def _decode_config(stdin: bytes) -> dict[str, Any]:
    try:
        config = json.loads(stdin)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CNIError(ERR_DECODE, "failed to decode network configuration", str(exc))
    if not isinstance(config, dict):
        raise CNIError(ERR_DECODE, "network configuration must be a JSON object")
    return config


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def validate_ifname(name: str) -> None:
    """Linux interface name rules (CNI's ValidateInterfaceName): 1-15 bytes, no '/', ':' or spaces."""
    if len(name.encode()) > 15 or name in (".", "..") or any(c in name for c in "/: \t\n"):
        raise CNIError(ERR_INVALID_ENV, f"invalid CNI_IFNAME {name!r}",
                       "1-15 characters, not '.' or '..', without '/', ':' or whitespace")


def parse_cni_args(text: str) -> dict[str, str]:
    """``CNI_ARGS`` is ``K1=V1;K2=V2`` (K8S_POD_NAMESPACE, K8S_POD_NAME, ... from the runtime)."""
    args: dict[str, str] = {}
    for pair in filter(None, text.split(";")):
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CNIError(ERR_INVALID_ENV, "invalid CNI_ARGS", f"{pair!r} is not KEY=VALUE")
        args[key] = value
    return args


def version_result(config_version: str = CURRENT_VERSION) -> dict[str, Any]:
    return {"cniVersion": config_version if config_version in SUPPORTED_VERSIONS else CURRENT_VERSION,
            "supportedVersions": list(SUPPORTED_VERSIONS)}


def convert_result(result: dict[str, Any], version: str) -> dict[str, Any]:
    """A 1.0 result in the requested version: 0.3.x/0.4.0 also carry ``"version": "4"|"6"`` per IP."""
    out = dict(result)
    out["cniVersion"] = version
    if _version_tuple(version) < (1, 0, 0):
        ips = []
        for ip in result.get("ips", []):
            entry = dict(ip)
            entry["version"] = "6" if ":" in entry["address"] else "4"
            ips.append(entry)
        out["ips"] = ips
    return out


def parse_prev_ips(prev: Mapping[str, Any]) -> list[tuple[ipaddress.IPv4Interface, str | None, int | None]]:
    """(address with prefix, gateway, interface index) for every IPv4 entry of a previous result."""
    found = []
    for ip in prev.get("ips", []) or []:
        try:
            iface = ipaddress.ip_interface(ip["address"])
        except (KeyError, ValueError, TypeError) as exc:
            raise CNIError(ERR_DECODE, "prevResult has an invalid IP entry", f"{ip!r}: {exc}")
        if isinstance(iface, ipaddress.IPv4Interface):
            found.append((iface, ip.get("gateway"), ip.get("interface")))
    return found


def encode_output(payload: Mapping[str, Any] | None) -> bytes:
    return b"" if payload is None else json.dumps(payload, separators=(",", ":")).encode() + b"\n"
