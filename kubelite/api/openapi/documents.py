"""The /openapi/v2 and /openapi/v3/<group-version> documents, built from the packaged definitions.

The API server supplies the paths (it knows which resources it serves and with which verbs); this
module supplies everything else, shaped as upstream's kube-apiserver 1.32 serves it:

* v2: ``{"swagger": "2.0", "info", "paths", "definitions", "securityDefinitions", "security"}`` with
  every definition of the data (upstream's v2 document carries every definition too), no ``default``
  values (upstream's v2 has none).
* v3: one document per group-version, ``{"openapi": "3.0.0", "info", "paths", "components":
  {"schemas", "securitySchemes"}}`` with only the schemas that group-version reaches.

Converting a v2 schema to v3 follows kube-openapi ``pkg/openapiconv.ConvertSchema`` and
``pkg/builder3/util.WrapRefs``: ``#/definitions/X`` becomes ``#/components/schemas/X``, and a ``$ref``
that has any sibling keyword (description, default, ...) is moved into ``allOf: [{"$ref": ...}]``
because OpenAPI 3.0 ignores siblings of ``$ref``
(https://github.com/kubernetes/kubernetes/issues/106387). On top of that the facts only the native
v3 builder knows are re-applied from the data: per-field ``default`` values and the ``oneOf`` that
replaces ``type`` for IntOrString and Quantity. The extractor checks that the result equals
upstream's native v3 schemas exactly, so ``kubectl explain`` and client-side tooling see what they
would see against a real 1.32 server.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final

import orjson

from kubelite.api.openapi.definitions import (
    V2_REF_PREFIX,
    JSONDict,
    copy_json,
    definition,
    schema_data,
)

V3_REF_PREFIX: Final = "#/components/schemas/"
V2_PARAMETER_PREFIX: Final = "#/parameters/"

# Meta types (DeleteOptions, WatchEvent, discovery lists) carry a kind in every group-version but
# belong to a group-version's document only when its paths use them.
META_PREFIX: Final = "io.k8s.apimachinery."

# Upstream's security scheme: a bearer token in the Authorization header (same in v2 and v3).
BEARER_TOKEN_SCHEME: Final[JSONDict] = {
    "description": "Bearer Token authentication",
    "in": "header",
    "name": "authorization",
    "type": "apiKey",
}

# Keywords whose value is one sub-schema, and those whose value is a list of sub-schemas.
_SUBSCHEMA_KEYS: Final = ("items", "additionalProperties", "additionalItems", "not")
_SUBSCHEMA_LIST_KEYS: Final = ("allOf", "anyOf", "oneOf")


class InvalidGroupVersionError(ValueError):
    """A group-version string that is not "v1" (core) or "<group>/<version>"."""


def _info(version: str) -> JSONDict:
    return {"title": "Kubernetes", "version": version}


def openapi_v2(
    paths: Mapping[str, Any],
    *,
    parameters: Mapping[str, Any] | None = None,
    extra_definitions: Mapping[str, JSONDict] | None = None,
    info_version: str = "unversioned",
) -> JSONDict:
    """The Swagger 2.0 document: the caller's ``paths`` with every packaged definition.

    ``parameters`` are shared parameters the paths refer to as ``#/parameters/<name>`` (upstream
    shares them this way); ``extra_definitions`` adds schemas the data does not have (custom
    resources), overriding nothing; ``info_version`` is what upstream fills with the server version.
    The result is a fresh copy the caller may modify. Raises ValueError when the paths, parameters
    or extra definitions reference a ``#/definitions/`` name that does not exist, or the paths a
    ``#/parameters/`` name that ``parameters`` lacks.
    """
    all_definitions: JSONDict = copy_json(schema_data().definitions)
    for name, schema in (extra_definitions or {}).items():
        if name in all_definitions:
            raise ValueError(f"extra definition {name!r} would replace the built-in Kubernetes definition "
                             "of that name; give custom schemas their own names")
        all_definitions[name] = copy_json(schema)
    dangling = sorted(_referenced_names([paths, parameters or {}, extra_definitions or {}], V2_REF_PREFIX)
                      - all_definitions.keys())
    if dangling:
        raise ValueError(f"OpenAPI v2 document: references to definitions that do not exist: "
                         f"{', '.join(dangling)}")
    missing_parameters = sorted(_referenced_names(paths, V2_PARAMETER_PREFIX) - (parameters or {}).keys())
    if missing_parameters:
        raise ValueError(f"OpenAPI v2 document: paths reference shared parameters that were not given: "
                         f"{', '.join(missing_parameters)}")
    doc: JSONDict = {
        "swagger": "2.0",
        "info": _info(info_version),
        "paths": copy_json(dict(paths)),
        "definitions": all_definitions,
        "securityDefinitions": {"BearerToken": dict(BEARER_TOKEN_SCHEME)},
        "security": [{"BearerToken": []}],
    }
    if parameters:
        doc["parameters"] = copy_json(dict(parameters))
    return doc


def parse_group_version(group_version: str) -> tuple[str, str]:
    """Split "apps/v1" into ("apps", "v1") and "v1" into ("", "v1") (the core group)."""
    group, sep, version = group_version.rpartition("/")
    if not version or (sep and not group) or "/" in group:
        raise InvalidGroupVersionError(
            f"invalid group-version {group_version!r}: expected 'v1' for the core group or "
            "'<group>/<version>' such as 'apps/v1'"
        )
    return group, version


def openapi_v3(
    group_version: str,
    paths: Mapping[str, Any],
    *,
    extra_schemas: Mapping[str, JSONDict] | None = None,
    info_version: str = "unversioned",
) -> JSONDict:
    """The OpenAPI 3.0 document of one group-version ("v1" for core, "apps/v1", ...).

    ``paths`` are the caller's v3 path items; any ``#/definitions/`` reference left in them is
    rewritten to ``#/components/schemas/``. As upstream does, the document carries exactly the
    schemas the paths reach (directly or through other schemas). When the paths reach none (a
    group-version served without paths yet), the group-version's own kinds are included instead, so
    the document still describes them. ``extra_schemas`` are v3 schemas of custom resources to add;
    they may reference built-in schemas such as ObjectMeta by ``#/components/schemas/<name>``.

    Raises ValueError when a path or extra schema references a schema that neither the data nor
    ``extra_schemas`` has (the document would otherwise be broken for every client).
    """
    group, version = parse_group_version(group_version)
    data = schema_data()
    converted_paths = _rewrite_refs(copy_json(dict(paths)))
    extra = {name: _rewrite_refs(copy_json(schema)) for name, schema in (extra_schemas or {}).items()}
    for name in extra:
        if name in data.definitions:
            raise ValueError(f"extra schema {name!r} would replace the built-in Kubernetes schema of that "
                             "name; give custom schemas their own names")

    referenced = _referenced_names([converted_paths, list(extra.values())], V3_REF_PREFIX)
    dangling = sorted(referenced - data.definitions.keys() - extra.keys())
    if dangling:
        raise ValueError(f"OpenAPI v3 document of {group_version}: references to schemas that do not "
                         f"exist: {', '.join(dangling)}")
    roots = referenced - extra.keys()
    if not roots:
        roots = {name for (g, v, _), name in data.gvk_index.items()
                 if (g, v) == (group, version) and not name.startswith(META_PREFIX)}
    schemas: JSONDict = {name: schema_v3(name) for name in sorted(reachable_definitions(roots))}
    schemas.update(extra)
    return {
        "openapi": "3.0.0",
        "info": _info(info_version),
        "paths": converted_paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"BearerToken": dict(BEARER_TOKEN_SCHEME)},
        },
    }


def reachable_definitions(roots: Iterable[str]) -> set[str]:
    """The packaged definitions among ``roots`` and all they reference, transitively.

    Names that are not packaged definitions (custom resource schemas) are skipped.
    """
    data = schema_data()
    seen: set[str] = set()
    todo = [name for name in roots if name in data.definitions]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(ref for ref in _referenced_names(data.definitions[name], V2_REF_PREFIX)
                    if ref not in seen)
    return seen


def schema_v3(name: str) -> JSONDict:
    """One packaged definition converted to OpenAPI v3 exactly as upstream's v3 documents show it."""
    data = schema_data()
    return to_v3_schema(
        definition(name),
        defaults=data.v3_defaults.get(name, {}),
        one_of=data.v3_one_of.get(name, {}),
    )


def to_v3_schema(
    schema: Mapping[str, Any],
    *,
    defaults: Mapping[str, Any] | None = None,
    one_of: Mapping[str, list[JSONDict]] | None = None,
) -> JSONDict:
    """Convert one v2 schema to v3 (a new object; the input is not modified).

    ``defaults`` and ``one_of`` map JSON pointers inside the schema ("" is the schema itself,
    "/properties/spec", "/properties/containers/items", ...) to the ``default`` value or ``oneOf``
    list to set there; a node that gets ``oneOf`` loses its ``type``, as in upstream's v3 builder.
    """
    return _convert(schema, "", defaults or {}, one_of or {})


def _convert(node: Mapping[str, Any], pointer: str, defaults: Mapping[str, Any],
             one_of: Mapping[str, list[JSONDict]]) -> JSONDict:
    out: JSONDict = {}
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str):
            out[key] = _v3_ref(value)
        elif key == "properties" and isinstance(value, Mapping):
            out[key] = {prop: _convert(sub, f"{pointer}/properties/{_escape(prop)}", defaults, one_of)
                        for prop, sub in value.items()}
        elif key in _SUBSCHEMA_KEYS and isinstance(value, Mapping):
            out[key] = _convert(value, f"{pointer}/{key}", defaults, one_of)
        elif key in _SUBSCHEMA_KEYS + _SUBSCHEMA_LIST_KEYS and isinstance(value, list):
            out[key] = [_convert(sub, f"{pointer}/{key}/{i}", defaults, one_of) if isinstance(sub, Mapping)
                        else copy_json(sub) for i, sub in enumerate(value)]
        else:
            out[key] = copy_json(value)
    if pointer in defaults:
        out["default"] = copy_json(defaults[pointer])
    if pointer in one_of:
        out.pop("type", None)
        out["oneOf"] = copy_json(one_of[pointer])
    ref = out.get("$ref")
    if ref is not None and len(out) > 1:
        del out["$ref"]
        out["allOf"] = [{"$ref": ref}, *out.get("allOf", [])]
    return out


def _v3_ref(ref: str) -> str:
    if ref.startswith(V2_REF_PREFIX):
        return V3_REF_PREFIX + ref[len(V2_REF_PREFIX):]
    return ref


def _escape(token: str) -> str:
    """RFC 6901 escaping of one JSON-pointer token."""
    return token.replace("~", "~0").replace("/", "~1")


def _rewrite_refs(value: Any) -> Any:
    """Every ``$ref`` string under ``value`` moved from #/definitions/ to #/components/schemas/."""
    if isinstance(value, dict):
        return {k: (_v3_ref(v) if k == "$ref" and isinstance(v, str) else _rewrite_refs(v))
                for k, v in value.items()}
    if isinstance(value, list):
        return [_rewrite_refs(v) for v in value]
    return value


def iter_refs(value: Any) -> Iterator[str]:
    """Every ``$ref`` string anywhere under ``value`` (schemas, paths, parameters)."""
    if isinstance(value, dict):
        for key, sub in value.items():
            if key == "$ref" and isinstance(sub, str):
                yield sub
            else:
                yield from iter_refs(sub)
    elif isinstance(value, list):
        for sub in value:
            yield from iter_refs(sub)


# A "$ref" key with a string value in serialized JSON (an escaped quote inside a string cannot match:
# it would be followed by a backslash, not by '":').
_REF_IN_JSON: Final = re.compile(rb'"\$ref":("(?:[^"\\]|\\.)*")')


def _referenced_names(value: Any, prefix: str) -> set[str]:
    # The same set as iter_refs() gives, found by one regex over orjson's output: walking the v2 paths
    # in Python took a quarter of a second on every rebuild (each CRD change).
    refs = (orjson.loads(raw) for raw in _REF_IN_JSON.findall(orjson.dumps(value)))
    return {ref[len(prefix):] for ref in refs if ref.startswith(prefix)}

