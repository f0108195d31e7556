"""OpenAPI v2 and v3 documents for what this server serves, and per-kind merge/field schemas.

Schemas come from the packaged upstream definitions (``kubelite.api.openapi``); the paths are
generated here from the ``ResourceTable``, operation by operation as upstream names them
(``listCoreV1NamespacedPod``), with the query parameters clients probe for: kubectl checks that a
kind's PATCH operation declares ``fieldValidation`` before it relies on server-side validation.
Documents are built once and cached until the resource table changes (CRDs).

/openapi/v2 is served as upstream's kube-openapi handler serves it: JSON, or gnostic's protobuf
``Document`` when the Accept header prefers it (client-go's ``OpenAPISchema()``, which kubectl's
client-side validation uses, asks only for protobuf). Both forms are encoded once per document and
share one ETag (the SHA-512 of the JSON, as upstream: the ``Vary: Accept`` header tells caches
apart). Custom resources' schemas enter the v2 document in their v2 form
(:mod:`kubelite.api.openapi.crd_v2`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import email.utils
import functools
import gzip
import hashlib
import time
from dataclasses import dataclass
from typing import Any, Final

import orjson

from kubelite.api import openapi
from kubelite.api.openapi import crd_v2, v2_protobuf
from kubelite.controlplane.apiserver.resources import STANDARD_VERBS, ResourceInfo, ResourceTable

Obj = dict[str, Any]

QUERY_PARAMS: dict[str, tuple[str, str]] = {
    "dryRun": ("string", "When present, indicates that modifications should not be persisted."),
    "fieldManager": ("string", "fieldManager is a name associated with the actor or entity that is making "
                     "these changes."),
    "fieldValidation": ("string", "fieldValidation instructs the server on how to handle objects in the "
                        "request containing unknown or duplicate fields. Valid values are: Ignore, Warn "
                        "(default), Strict."),
    "pretty": ("string", "If 'true', then the output is pretty printed."),
    "labelSelector": ("string", "A selector to restrict the list of returned objects by their labels."),
    "fieldSelector": ("string", "A selector to restrict the list of returned objects by their fields."),
    "limit": ("integer", "limit is a maximum number of responses to return for a list call."),
    "continue": ("string", "The continue option should be set when retrieving more results from the server."),
    "resourceVersion": ("string", "resourceVersion sets a constraint on what resource versions a request may "
                        "be served from."),
    "resourceVersionMatch": ("string", "resourceVersionMatch determines how resourceVersion is applied to "
                             "list calls."),
    "timeoutSeconds": ("integer", "Timeout for the list/watch call."),
    "watch": ("boolean", "Watch for changes to the described resources and return them as a stream of add, "
              "update, and remove notifications."),
    "allowWatchBookmarks": ("boolean", "allowWatchBookmarks requests watch events with type \"BOOKMARK\"."),
    "sendInitialEvents": ("boolean", "`sendInitialEvents=true` may be set together with `watch=true`."),
    "gracePeriodSeconds": ("integer", "The duration in seconds before the object should be deleted."),
    "propagationPolicy": ("string", "Whether and how garbage collection will be performed."),
    "orphanDependents": ("boolean", "Deprecated: please use the PropagationPolicy."),
    "force": ("boolean", "Force is going to \"force\" Apply requests."),
}
LIST_PARAMS = ("allowWatchBookmarks", "continue", "fieldSelector", "labelSelector", "limit", "resourceVersion",
               "resourceVersionMatch", "sendInitialEvents", "timeoutSeconds", "watch")
WRITE_PARAMS = ("dryRun", "fieldManager", "fieldValidation")
DELETE_PARAMS = ("dryRun", "gracePeriodSeconds", "orphanDependents", "propagationPolicy")
PATCH_MEDIA = ("application/json-patch+json", "application/merge-patch+json",
               "application/strategic-merge-patch+json", "application/apply-patch+yaml")
META = "io.k8s.apimachinery.pkg.apis.meta.v1."


def _camel_group(info: ResourceInfo) -> str:
    if not info.group:
        return "Core"
    # upstream: rbac.authorization.k8s.io -> RbacAuthorization, apps -> Apps
    words = info.group.removesuffix(".k8s.io").split(".")
    return "".join(word.capitalize() for word in words)


def _op_id(verb: str, info: ResourceInfo, namespaced: bool, suffix: str = "", all_ns: bool = False) -> str:
    scope = "Namespaced" if namespaced else ""
    tail = "ForAllNamespaces" if all_ns else ""
    return f"{verb}{_camel_group(info)}{info.version.capitalize()}{scope}{info.kind}{suffix}{tail}"


def _param(name: str, *, v3: bool, location: str = "query") -> Obj:
    kind, description = QUERY_PARAMS.get(name, ("string", ""))
    if v3:
        return {"name": name, "in": location, "description": description,
                "schema": {"type": kind, "uniqueItems": True}}
    return {"name": name, "in": location, "description": description, "type": kind, "uniqueItems": True}


def _path_param(name: str, *, v3: bool) -> Obj:
    param = _param(name, v3=v3, location="path")
    param["required"] = True
    param["description"] = f"{name} of the resource" if name == "name" else "object name and auth scope"
    return param


def _ref(definition: str) -> Obj:
    return {"$ref": f"#/definitions/{definition}"}


def _responses(definition: str, codes: tuple[str, ...], *, v3: bool) -> Obj:
    out: Obj = {}
    for code in codes:
        if v3:
            out[code] = {"description": "OK" if code == "200" else "Created" if code == "201" else "Accepted",
                         "content": {media: {"schema": _ref(definition)}
                                     for media in ("application/json", "application/yaml")}}
        else:
            out[code] = {"description": "OK" if code == "200" else "Created" if code == "201" else "Accepted",
                         "schema": _ref(definition)}
    out["401"] = {"description": "Unauthorized"}
    return out


def _operation(info: ResourceInfo, *, verb: str, op_id: str, action: str, definition: str,
               params: tuple[str, ...], codes: tuple[str, ...], v3: bool, body: str | None = None,
               patch: bool = False) -> Obj:
    gvk_group, gvk_version, gvk_kind = info.group, info.version, info.kind
    op: Obj = {"description": f"{verb} {info.kind}", "operationId": op_id,
               "tags": [f"{_camel_group(info).lower()}_{info.version}"],
               "parameters": [_param(p, v3=v3) for p in params],
               "responses": _responses(definition, codes, v3=v3),
               "x-kubernetes-action": action,
               "x-kubernetes-group-version-kind": {"group": gvk_group, "version": gvk_version, "kind": gvk_kind}}
    if not v3:
        op["consumes"] = list(PATCH_MEDIA) if patch else ["*/*"]
        op["produces"] = ["application/json", "application/yaml"]
        op["schemes"] = ["https"]
    if body is not None:
        if v3:
            media = PATCH_MEDIA if patch else ("*/*",)
            schema: Obj = {"type": "object"} if patch else _ref(body)
            op["requestBody"] = {"content": {m: {"schema": schema} for m in media}, "required": True}
        else:
            op["parameters"].insert(0, {"name": "body", "in": "body", "required": True,
                                        "schema": {"type": "object"} if patch else _ref(body)})
    if not op["parameters"]:
        del op["parameters"]  # upstream omits an empty list (and protobuf cannot tell one from none)
    return op


ACTION_VERBS: Final = {"list": "list", "post": "create", "deletecollection": "deletecollection", "get": "get",
                       "put": "update", "patch": "patch", "delete": "delete"}


def resource_paths(info: ResourceInfo, *, v3: bool) -> dict[str, Obj]:
    """Path items for one resource: collection, item, all-namespaces list and subresources."""
    if not info.definition:
        return {}
    root = f"/apis/{info.group}/{info.version}" if info.group else f"/api/{info.version}"
    base = f"{root}/namespaces/{{namespace}}/{info.plural}" if info.namespaced else f"{root}/{info.plural}"
    ns = info.namespaced
    list_def = info.definition + "List"
    scope_params = [_path_param("namespace", v3=v3)] if ns else []
    status_def = META + "Status"
    paths: dict[str, Obj] = {
        base: {
            "get": _operation(info, verb="list", op_id=_op_id("list", info, ns), action="list",
                              definition=list_def, params=LIST_PARAMS, codes=("200",), v3=v3),
            "post": _operation(info, verb="create", op_id=_op_id("create", info, ns), action="post",
                               definition=info.definition, params=WRITE_PARAMS, codes=("200", "201", "202"),
                               v3=v3, body=info.definition),
            "delete": _operation(info, verb="delete collection of", op_id=_op_id("deleteCollection", info, ns),
                                 action="deletecollection", definition=status_def,
                                 params=DELETE_PARAMS + LIST_PARAMS[:7], codes=("200",), v3=v3),
            "parameters": [*scope_params, _param("pretty", v3=v3)],
        },
        f"{base}/{{name}}": {
            "get": _operation(info, verb="read", op_id=_op_id("read", info, ns), action="get",
                              definition=info.definition, params=(), codes=("200",), v3=v3),
            "put": _operation(info, verb="replace", op_id=_op_id("replace", info, ns), action="put",
                              definition=info.definition, params=WRITE_PARAMS, codes=("200", "201"), v3=v3,
                              body=info.definition),
            "patch": _operation(info, verb="partially update", op_id=_op_id("patch", info, ns), action="patch",
                                definition=info.definition, params=(*WRITE_PARAMS, "force"),
                                codes=("200", "201"), v3=v3, body=info.definition, patch=True),
            "delete": _operation(info, verb="delete", op_id=_op_id("delete", info, ns), action="delete",
                                 definition=status_def, params=DELETE_PARAMS, codes=("200", "202"), v3=v3),
            "parameters": [_path_param("name", v3=v3), *scope_params, _param("pretty", v3=v3)],
        },
    }
    if ns:
        paths[f"{root}/{info.plural}"] = {
            "get": _operation(info, verb="list", op_id=_op_id("list", info, False, all_ns=True), action="list",
                              definition=list_def, params=LIST_PARAMS, codes=("200",), v3=v3),
            "parameters": [_param("pretty", v3=v3)],
        }
    if set(info.verbs) != set(STANDARD_VERBS):  # a read-only resource (metrics.k8s.io) documents what it serves
        for path_item in paths.values():
            for method in [m for m in path_item if m != "parameters"]:
                if ACTION_VERBS[path_item[method]["x-kubernetes-action"]] not in info.verbs:
                    del path_item[method]
    for sub in info.subresources:
        if sub.name == "status":
            definition, suffix = info.definition, "Status"
        elif sub.name == "scale":
            definition, suffix = "io.k8s.api.autoscaling.v1.Scale", "Scale"
        else:
            continue
        item: Obj = {"parameters": [_path_param("name", v3=v3), *scope_params, _param("pretty", v3=v3)]}
        item["get"] = _operation(info, verb="read", op_id=_op_id("read", info, ns, suffix), action="get",
                                 definition=definition, params=(), codes=("200",), v3=v3)
        item["put"] = _operation(info, verb="replace", op_id=_op_id("replace", info, ns, suffix), action="put",
                                 definition=definition, params=WRITE_PARAMS, codes=("200", "201"), v3=v3,
                                 body=definition)
        item["patch"] = _operation(info, verb="partially update", op_id=_op_id("patch", info, ns, suffix),
                                   action="patch", definition=definition, params=(*WRITE_PARAMS, "force"),
                                   codes=("200", "201"), v3=v3, body=definition, patch=True)
        if sub.name == "scale":
            for op in ("get", "put", "patch"):
                item[op]["x-kubernetes-group-version-kind"] = {"group": "autoscaling", "version": "v1",
                                                               "kind": "Scale"}
        paths[f"{base}/{{name}}/{sub.name}"] = item
    return paths


JSON_CONTENT_TYPE: Final = "application/json"
V2_PROTOBUF_CONTENT_TYPE: Final = v2_protobuf.PROTOBUF_CONTENT_TYPE
OpenAPIEncodingError = v2_protobuf.OpenAPIEncodingError
# (type, subtype, representation) in upstream's order: "*/*" and "application/*" get JSON.
V2_MEDIA_TYPES: Final = (
    ("application", "json", "json"),
    ("application", v2_protobuf.PROTOBUF_SUBTYPE_DEPRECATED, "protobuf"),
    ("application", v2_protobuf.PROTOBUF_SUBTYPE, "protobuf"),
)


def negotiate_v2(accept: str) -> str | None:
    """The representation of /openapi/v2 an Accept header asks for: "json", "protobuf" or None (406).

    As kube-openapi's handler (goautoneg): media ranges are tried from the highest q-value down, a
    concrete type before a wildcard at equal q; the first range one of our media types matches wins.
    An empty header means ``*/*``; ranges with q=0 are refused, as RFC 9110 says.
    """
    ranges: list[tuple[float, bool, bool, int, str, str]] = []
    for index, clause in enumerate((accept or "*/*").split(",")):
        media, *params = clause.split(";")
        kind, slash, subtype = media.strip().partition("/")
        if not slash:
            if kind != "*":
                continue
            subtype = "*"
        q = 1.0
        for param in params:
            name, eq, value = param.partition("=")
            if eq and name.strip() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
        if not q > 0:  # also NaN
            continue
        ranges.append((-q, kind.strip() == "*", subtype.strip() == "*", index, kind.strip(), subtype.strip()))
    for *_, kind, subtype in sorted(ranges):
        for our_type, our_subtype, representation in V2_MEDIA_TYPES:
            if kind in (our_type, "*") and subtype in (our_subtype, "*"):
                return representation
    return None


@dataclass(frozen=True, slots=True)
class Encoded:
    """One representation of a document, ready to send (and its gzip form, made on first need)."""

    body: bytes
    content_type: str
    etag: str            # quoted, as it goes into the ETag header
    last_modified: float  # seconds since the epoch
    _gzipped: list[bytes] = dataclasses.field(default_factory=list, compare=False)

    def gzipped(self) -> bytes:
        # Upstream gzips /openapi/v2 for clients that accept it (kubectl does): a megabyte becomes ~100 kB.
        if not self._gzipped:
            self._gzipped.append(gzip.compress(self.body, compresslevel=6, mtime=0))
        return self._gzipped[0]

    def headers(self) -> dict[str, str]:
        return {"Content-Type": self.content_type, "ETag": self.etag, "Vary": "Accept",
                "Last-Modified": email.utils.formatdate(self.last_modified, usegmt=True)}

    def not_modified(self, *, if_none_match: str | None, if_modified_since: str | None) -> bool:
        """Whether a GET with these headers gets 304 Not Modified (Go's http.ServeContent rules)."""
        if if_none_match is not None:
            tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
            return "*" in tags or self.etag in tags
        if if_modified_since:
            try:
                since = email.utils.parsedate_to_datetime(if_modified_since).timestamp()
            except (TypeError, ValueError):
                return False
            return int(self.last_modified) <= since
        return False


@functools.cache
def known_definitions() -> frozenset[str]:
    """Names of the packaged upstream definitions (computed once; definitions() copies everything)."""
    return frozenset(openapi.definitions())


class OpenAPIService:
    """Builds and caches the documents; ``invalidate()`` when the resource table changes."""

    def __init__(self, table: ResourceTable) -> None:
        self.table = table
        self._v2: Obj | None = None
        self._v3: dict[str, Obj] = {}
        self._v3_index: Obj | None = None
        self._custom: dict[str, Obj] = {}  # schemas of custom kinds, by definition name
        self._served: dict[str, Obj] = {}  # schemas of kinds the server adds itself (metrics.k8s.io)
        self._v2_encoded: dict[str, Encoded] = {}
        # the last protobuf document's encoded definitions and paths: a CRD change re-encodes only its own
        self._v2_entries = v2_protobuf.DocumentEntries()
        self.v2_protobuf_build_seconds = 0.0
        self._generation = 0  # counts invalidations: a build that straddles one is not cached
        self._v2_protobuf_lock = asyncio.Lock()

    def invalidate(self) -> None:
        self._generation += 1
        self._v2 = None
        self._v2_encoded.clear()
        self._v3.clear()
        self._v3_index = None

    def set_custom_schemas(self, schemas: dict[str, Obj]) -> None:
        """Replace the schemas of custom resources (the CRD registrar calls this on every CRD change)."""
        self._custom = dict(schemas)
        self.invalidate()

    def add_schemas(self, schemas: dict[str, Obj]) -> None:
        """Schemas (v3 form, like a CRD's) of kinds the server serves itself; they stay across CRD changes."""
        self._served.update(schemas)
        self.invalidate()

    def _extra(self) -> dict[str, Obj]:
        return {**self._served, **self._custom}

    def _infos(self) -> list[ResourceInfo]:
        known, extra = known_definitions(), self._extra()
        return [i for i in self.table if i.definition and (i.definition in known or i.definition in extra)]

    def v2(self) -> Obj:
        if self._v2 is None:
            paths: dict[str, Obj] = {}
            for info in self._infos():
                paths.update(resource_paths(info, v3=False))
            custom = {name: crd_v2.published_schema(schema) for name, schema in self._extra().items()}
            self._v2 = openapi.openapi_v2(paths, extra_definitions=custom, info_version="v1.32.0")
        return self._v2

    def v2_encoded(self, representation: str) -> Encoded:
        """/openapi/v2 as "json" or "protobuf" bytes, built once per document.

        Raises ``v2_protobuf.OpenAPIEncodingError`` when the document cannot be expressed as gnostic's
        protobuf (a schema keyword v2 does not have): upstream answers 503 then.
        """
        encoded = self._v2_encoded.get(representation)
        if encoded is not None:
            return encoded
        if "json" not in self._v2_encoded:
            body = orjson.dumps(self.v2())
            etag = '"' + hashlib.sha512(body).hexdigest().upper() + '"'
            self._v2_encoded["json"] = Encoded(body, JSON_CONTENT_TYPE, etag, time.time())
        json_form = self._v2_encoded["json"]
        if representation == "json":
            return json_form
        if representation != "protobuf":
            raise ValueError(f"unknown representation {representation!r} of /openapi/v2 (json, protobuf)")
        # while an asynchronous build owns the remembered entries, a synchronous one starts from nothing
        previous = None if self._v2_protobuf_lock.locked() else self._v2_entries
        started = time.perf_counter()
        body = v2_protobuf.encode_document(self.v2(), previous=previous)
        self.v2_protobuf_build_seconds = time.perf_counter() - started
        encoded = Encoded(body, v2_protobuf.PROTOBUF_CONTENT_TYPE, json_form.etag, json_form.last_modified)
        self._v2_encoded["protobuf"] = encoded
        return encoded

    async def v2_encoded_async(self, representation: str) -> Encoded:
        """:meth:`v2_encoded` for the API server: the protobuf encoding runs in a worker thread.

        The first encoding takes a few hundred milliseconds; in a thread the event loop keeps serving
        meanwhile, and concurrent first requests wait for one shared encoding. An encoding that a
        resource-table change overtook still answers the requests that asked before the change, but
        is not cached.
        """
        cached = self._v2_encoded.get(representation)
        if cached is not None or representation != "protobuf":
            return cached if cached is not None else self.v2_encoded(representation)
        async with self._v2_protobuf_lock:
            cached = self._v2_encoded.get(representation)
            if cached is not None:
                return cached
            json_form = self.v2_encoded("json")
            document, generation = self.v2(), self._generation
            started = time.perf_counter()
            # the document is never modified in place (invalidate() drops it), so the thread may read it
            body = await asyncio.to_thread(v2_protobuf.encode_document, document, previous=self._v2_entries)
            self.v2_protobuf_build_seconds = time.perf_counter() - started
            encoded = Encoded(body, v2_protobuf.PROTOBUF_CONTENT_TYPE, json_form.etag, json_form.last_modified)
            if generation == self._generation:
                self._v2_encoded[representation] = encoded
            return encoded

    def group_versions(self) -> list[str]:
        gvs = {info.api_version for info in self._infos()}
        return sorted(gvs)

    @staticmethod
    def _url_path(gv: str) -> str:
        return f"api/{gv}" if "/" not in gv else f"apis/{gv}"

    def v3(self, url_path: str) -> Obj | None:
        """The document for 'api/v1' or 'apis/apps/v1'."""
        if url_path.startswith("api/"):
            gv = url_path[len("api/"):]
        elif url_path.startswith("apis/"):
            gv = url_path[len("apis/"):]
        else:
            return None
        if gv not in self.group_versions():
            return None
        if gv not in self._v3:
            group, _, version = gv.rpartition("/")
            paths: dict[str, Obj] = {}
            custom: dict[str, Obj] = {}
            extra = self._extra()
            for info in self._infos():
                if (info.group, info.version) == (group, version):
                    paths.update(resource_paths(info, v3=True))
                    for name in (info.definition, info.definition + "List"):
                        if name in extra:
                            custom[name] = extra[name]
            self._v3[gv] = openapi.openapi_v3(gv, paths, extra_schemas=custom, info_version="v1.32.0")
        return self._v3[gv]

    def v3_index(self) -> Obj:
        """/openapi/v3: each group-version's URL with a content hash (built once per table change)."""
        if self._v3_index is None:
            index: Obj = {}
            for gv in self.group_versions():
                path = self._url_path(gv)
                digest = hashlib.sha512(orjson.dumps(self.v3(path), option=orjson.OPT_SORT_KEYS)).hexdigest()[:64]
                index[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest.upper()}"}
            self._v3_index = {"paths": index}
        return self._v3_index

    def merge_schema(self, info: ResourceInfo) -> openapi.MergeSchema | None:
        if not info.definition or info.definition not in known_definitions():
            return None
        return openapi.merge_schema_for(info.definition)

    @staticmethod
    def unknown_fields(definition: str, obj: Obj) -> list[str]:
        if definition not in known_definitions():
            return []
        return openapi.unknown_fields(definition, obj)
