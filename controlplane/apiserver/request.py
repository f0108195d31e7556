"""Parsing of API request paths and query parameters into plain values the handlers pass on, and
applying a PATCH request's body (JSON, merge or strategic merge patch) to an object.

Paths as upstream routes them:
  /api/v1/<plural>[/<name>[/<sub>]]                      cluster-scoped, or all namespaces for a list
  /api/v1/namespaces/<ns>/<plural>[/<name>[/<sub>]]      namespaced
  /apis/<group>/<version>/...                            the same below a named group
  .../watch/...                                          legacy watch paths (watch=true implied)
"""

from __future__ import annotations

import asyncio
from typing import Any, NamedTuple, Protocol

from multidict import CIMultiDictProxy, MultiMapping
from yarl import URL

from kubelite.api import patch as patching
from kubelite.controlplane.apiserver import errors
from kubelite.controlplane.apiserver.resources import ResourceInfo, ResourceTable


class EdgeRequest(Protocol):
    """What the API handlers read of a request: the part of aiohttp's ``web.Request`` they use, with its
    meaning. aiohttp's requests have it, and so do the lean edge's (``http1_server.LeanRequest``); a
    request is also a mapping of per-request values (``"user"``, ``"verb"``, ``"resource"``, ...)."""

    @property
    def method(self) -> str: ...
    @property
    def path(self) -> str: ...  # percent-decoded
    @property
    def query(self) -> MultiMapping[str]: ...
    @property
    def headers(self) -> CIMultiDictProxy[str]: ...
    @property
    def rel_url(self) -> URL: ...
    @property
    def content_type(self) -> str: ...  # 'application/octet-stream' without a Content-Type header
    @property
    def content_length(self) -> int | None: ...
    @property
    def body_exists(self) -> bool: ...
    @property
    def can_read_body(self) -> bool: ...
    @property
    def transport(self) -> asyncio.Transport | None: ...
    @property
    def remote(self) -> str | None: ...
    async def read(self) -> bytes: ...
    def __getitem__(self, key: str) -> Any: ...
    def __setitem__(self, key: str, value: Any) -> None: ...
    def __contains__(self, key: object) -> bool: ...


class Target(NamedTuple):
    """What a resource path names. A named tuple: immutable like a frozen dataclass, and built per request
    at a fraction of its cost (a frozen dataclass sets each field through ``object.__setattr__``)."""

    info: ResourceInfo
    namespace: str | None  # None: cluster-scoped resource, or a list across all namespaces
    name: str
    subresource: str
    legacy_watch: bool


def path_parts(path: str) -> list[str]:
    """The non-empty segments of a path (``//`` and a trailing ``/`` add none)."""
    return [p for p in path.split("/") if p]


def parse_path(table: ResourceTable, path: str, parts: list[str] | None = None) -> Target:
    """The resource, namespace, name and subresource a path names; ``parts``: its ``path_parts``, if the
    caller has them already."""
    if parts is None:
        parts = path_parts(path)
    if not parts:
        raise errors.path_not_found(path)
    if parts[0] == "api":
        group, rest = "", parts[1:]
    elif parts[0] == "apis" and len(parts) >= 2:
        group, rest = parts[1], parts[2:]
    else:
        raise errors.path_not_found(path)
    if not rest:
        raise errors.path_not_found(path)
    version, rest = rest[0], rest[1:]
    legacy_watch = bool(rest) and rest[0] == "watch"
    if legacy_watch:
        rest = rest[1:]
    if not rest:
        raise errors.path_not_found(path)
    namespace: str | None = None
    # /namespaces/<ns>/<resource>...: but /namespaces/<name>[/status|finalize] is the namespace itself
    if rest[0] == "namespaces" and len(rest) >= 3 and not (group == "" and rest[2] in ("status", "finalize")
                                                          and len(rest) == 3):
        namespace, rest = rest[1], rest[2:]
    plural = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    if len(rest) > 3:
        raise errors.path_not_found(path)
    info = table.get(group, version, plural)
    if info is None:
        raise errors.path_not_found(path)
    if namespace is not None and not info.namespaced:
        raise errors.path_not_found(path)
    if info.namespaced and name and namespace is None:
        raise errors.path_not_found(path)
    if subresource and info.subresource(subresource) is None and not (
            info.plural == "namespaces" and subresource == "finalize"):
        raise errors.path_not_found(path)
    return Target(info, namespace, name, subresource, legacy_watch)


def query_bool(value: str | None) -> bool:
    return value is not None and value.lower() in ("true", "1", "")


def query_int(name: str, value: str | None) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except ValueError:
        raise errors.bad_request(f'{name}: Invalid value: "{value}": must be an integer')
    if number < 0:
        raise errors.bad_request(f'{name}: Invalid value: {number}: must be greater than or equal to 0')
    return number


def apply_patch(current: dict[str, Any], body: Any, *, content_type: str, merge_schema: Any) -> dict[str, Any]:
    """``body`` applied to ``current`` by its content type; a bad patch is the 4xx ``APIError`` upstream gives."""
    try:
        if content_type == "application/json-patch+json":
            if not isinstance(body, list):
                raise errors.bad_request("json patch must be a JSON array of operations")
            patched = patching.apply_json_patch(current, body)
        elif content_type == "application/merge-patch+json":
            patched = patching.apply_merge_patch(current, body)
        else:
            if not isinstance(body, dict):
                raise errors.bad_request("strategic merge patch must be a JSON object")
            patched = patching.apply_strategic_merge_patch(current, body, merge_schema)
    except patching.PatchError as exc:
        raise errors.APIError(exc.status, "Invalid" if exc.status == 422 else
                              ("Conflict" if exc.status == 409 else "BadRequest"), str(exc)) from exc
    if not isinstance(patched, dict):
        raise errors.bad_request("the patch did not produce an object")
    return patched
