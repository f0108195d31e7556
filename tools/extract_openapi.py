#!/usr/bin/env python3
"""Write kubelite/api/openapi/definitions.json.gz from upstream Kubernetes's published OpenAPI documents.

Inputs (Kubernetes 1.32; any 1.3x release works the same way):

``--swagger``  upstream's OpenAPI v2 document, kubernetes/kubernetes ``api/openapi-spec/swagger.json``
               on branch ``release-1.32``. kubelite's copy was taken from kubernetes-client/python
               tag ``v32.0.1``, file ``kubernetes/swagger.json.unprocessed`` (that client release is
               generated from ``release-1.32``, see its ``scripts/constants.py``).
``--v3-dir``   optional, a directory holding upstream's OpenAPI v3 documents of the same release,
               kubernetes/kubernetes ``api/openapi-spec/v3/*.json`` (or kubernetes-sigs/kubectl-validate
               ``pkg/openapiclient/builtins/1.32/``, the same files arranged as ``api/v1.json``,
               ``apis/apps/v1.json``, ...). Every ``*.json`` below it with ``components.schemas`` is read.

What is kept: the definitions of the kinds in ``KINDS`` (the kinds kubelite serves, with their
lists) and everything they reference, plus every ``io.k8s.apimachinery`` definition (ObjectMeta,
Status, WatchEvent, DeleteOptions, discovery types, ...), unchanged, descriptions included. Paths,
shared parameters and security definitions are not kept: kubelite generates its own paths.

From the v3 documents only what v2 cannot express is kept: the ``default`` of each schema node
and the ``oneOf`` of IntOrString/Quantity, as JSON pointers per definition. Before writing, every
kept definition that the v3 documents contain is converted with kubelite's own v2-to-v3 converter
(``kubelite.api.openapi.documents.to_v3_schema``) and compared with upstream's native v3 schema; any
difference aborts the extraction, so the served v3 documents are known to equal upstream's.

The output is deterministic (sorted keys, gzip mtime 0) so that re-running on the same inputs gives
the same bytes. Run from the repository root with the project's virtualenv:

    python tools/extract_openapi.py --swagger swagger.json --v3-dir builtins/1.32
"""

from __future__ import annotations

import argparse
import gzip
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import orjson

from kubelite.api.openapi.definitions import DATA_FORMAT, GVK_EXTENSION, V2_REF_PREFIX
from kubelite.api.openapi.documents import META_PREFIX, to_v3_schema

REPO_ROOT: Final = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT: Final = REPO_ROOT / "kubelite" / "api" / "openapi" / "definitions.json.gz"

DEFAULT_V2_SOURCE: Final = (
    "kubernetes/kubernetes api/openapi-spec/swagger.json (release-1.32), as vendored by "
    "kubernetes-client/python v32.0.1 at kubernetes/swagger.json.unprocessed"
)
DEFAULT_V3_SOURCE: Final = (
    "kubernetes/kubernetes api/openapi-spec/v3 (release-1.32), as vendored by "
    "kubernetes-sigs/kubectl-validate at pkg/openapiclient/builtins/1.32"
)


def _with_lists(group: str, version: str, *names: str) -> list[tuple[str, str, str]]:
    return [(group, version, kind) for name in names for kind in (name, f"{name}List")]


# The kinds kubelite serves. Subresource and review kinds have no List kind upstream.
KINDS: Final[tuple[tuple[str, str, str], ...]] = (
    *_with_lists("", "v1", "Namespace", "Node", "Pod", "Service", "Endpoints", "ConfigMap", "Secret",
                 "ServiceAccount", "Event", "LimitRange", "ResourceQuota", "PersistentVolume",
                 "PersistentVolumeClaim"),
    ("", "v1", "Binding"),
    *_with_lists("events.k8s.io", "v1", "Event"),
    *_with_lists("apps", "v1", "Deployment", "ReplicaSet", "DaemonSet", "StatefulSet", "ControllerRevision"),
    *_with_lists("batch", "v1", "Job", "CronJob"),
    *_with_lists("discovery.k8s.io", "v1", "EndpointSlice"),
    *_with_lists("coordination.k8s.io", "v1", "Lease"),
    *_with_lists("rbac.authorization.k8s.io", "v1",
                 "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"),
    *_with_lists("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
    *_with_lists("scheduling.k8s.io", "v1", "PriorityClass"),
    *_with_lists("policy", "v1", "PodDisruptionBudget"),
    ("policy", "v1", "Eviction"),
    *_with_lists("certificates.k8s.io", "v1", "CertificateSigningRequest"),
    ("authentication.k8s.io", "v1", "TokenRequest"),
    ("authentication.k8s.io", "v1", "TokenReview"),
    ("authentication.k8s.io", "v1", "SelfSubjectReview"),
    ("authorization.k8s.io", "v1", "SubjectAccessReview"),
    ("authorization.k8s.io", "v1", "SelfSubjectAccessReview"),
    ("authorization.k8s.io", "v1", "SelfSubjectRulesReview"),
    ("authorization.k8s.io", "v1", "LocalSubjectAccessReview"),
    *_with_lists("networking.k8s.io", "v1", "NetworkPolicy", "Ingress", "IngressClass"),
    ("autoscaling", "v1", "Scale"),
    *_with_lists("autoscaling", "v2", "HorizontalPodAutoscaler"),
    *_with_lists("storage.k8s.io", "v1", "StorageClass"),
)


class ExtractError(Exception):
    """Bad input; the message says which file, definition or kind and what was expected."""


@dataclass(frozen=True)
class V3Extras:
    """What upstream's native v3 schemas add to the v2 ones, per definition and JSON pointer."""

    defaults: dict[str, dict[str, Any]]
    one_of: dict[str, dict[str, list[Any]]]
    covered: frozenset[str]  # kept definitions found in the v3 documents


def load_json(path: Path) -> Any:
    try:
        return orjson.loads(path.read_bytes())
    except OSError as exc:
        raise ExtractError(f"cannot read {path}: {exc.strerror}") from exc
    except orjson.JSONDecodeError as exc:
        raise ExtractError(f"{path} is not valid JSON: {exc}") from exc


def v2_definitions(doc: Any, *, origin: str) -> dict[str, Any]:
    """The definitions of a Swagger 2.0 document, after checking it is one with the extensions we need."""
    if not isinstance(doc, dict) or doc.get("swagger") != "2.0":
        raise ExtractError(f"{origin}: not a Swagger 2.0 document (no \"swagger\": \"2.0\")")
    definitions = doc.get("definitions")
    if not isinstance(definitions, dict) or not definitions:
        raise ExtractError(f"{origin}: has no definitions")
    text = orjson.dumps(definitions)
    for marker in (GVK_EXTENSION, "x-kubernetes-patch-merge-key", "x-kubernetes-patch-strategy"):
        if marker.encode() not in text:
            raise ExtractError(f"{origin}: no definition carries {marker}; this is not upstream's "
                               "published Kubernetes spec (a client generator may have stripped it)")
    return definitions


def gvk_index(definitions: Mapping[str, Any]) -> dict[tuple[str, str, str], list[str]]:
    index: dict[tuple[str, str, str], list[str]] = {}
    for name, schema in definitions.items():
        for gvk in schema.get(GVK_EXTENSION, ()):
            index.setdefault((gvk["group"], gvk["version"], gvk["kind"]), []).append(name)
    return index


def root_definitions(definitions: Mapping[str, Any], kinds: Iterable[tuple[str, str, str]]) -> list[str]:
    """The definition of each wanted kind, found by x-kubernetes-group-version-kind, plus the meta types."""
    index = gvk_index(definitions)
    roots: list[str] = []
    missing: list[str] = []
    for gvk in kinds:
        names = index.get(gvk, [])
        if len(names) != 1:
            label = f"{gvk[0] or 'core'}/{gvk[1]} {gvk[2]}"
            missing.append(f"{label} ({'no definition' if not names else 'several: ' + ', '.join(names)})")
            continue
        roots.append(names[0])
    if missing:
        raise ExtractError("the spec does not define these kinds exactly once: " + "; ".join(missing))
    roots.extend(name for name in definitions if name.startswith(META_PREFIX))
    return roots


def iter_refs(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, sub in value.items():
            if key == "$ref" and isinstance(sub, str):
                yield sub
            else:
                yield from iter_refs(sub)
    elif isinstance(value, list):
        for sub in value:
            yield from iter_refs(sub)


def closure(definitions: Mapping[str, Any], roots: Iterable[str]) -> dict[str, Any]:
    """The roots and every definition they reference, transitively, in name order."""
    kept: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in kept:
            continue
        if name not in definitions:
            raise ExtractError(f"definition {name!r} is referenced but not defined in the spec")
        kept.add(name)
        for ref in iter_refs(definitions[name]):
            if not ref.startswith(V2_REF_PREFIX):
                raise ExtractError(f"definition {name!r} has a reference {ref!r} outside {V2_REF_PREFIX}")
            todo.append(ref[len(V2_REF_PREFIX):])
    return {name: definitions[name] for name in sorted(kept)}


def v3_schemas(directory: Path) -> tuple[dict[str, Any], int]:
    """All ``components.schemas`` of the v3 documents under ``directory``, merged; and the file count.

    The same schema appears in many group-version documents; upstream builds them from one source,
    so copies must be identical, and a difference is reported rather than silently picking one.
    """
    if not directory.is_dir():
        raise ExtractError(f"--v3-dir {directory} is not a directory")
    merged: dict[str, Any] = {}
    origin: dict[str, Path] = {}
    files = 0
    for path in sorted(directory.rglob("*.json")):
        doc = load_json(path)
        schemas = doc.get("components", {}).get("schemas") if isinstance(doc, dict) else None
        if not isinstance(schemas, dict):
            continue
        files += 1
        for name, schema in schemas.items():
            if name in merged and merged[name] != schema:
                raise ExtractError(f"schema {name!r} differs between {origin[name]} and {path}")
            merged.setdefault(name, schema)
            origin.setdefault(name, path)
    if not files:
        raise ExtractError(f"--v3-dir {directory} holds no OpenAPI v3 document with components.schemas")
    return merged, files


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _children(node: Mapping[str, Any], pointer: str) -> Iterator[tuple[str, str, Any]]:
    """(key-path, pointer, sub-schema) of every sub-schema a v2/v3 pair shares structurally."""
    for prop, sub in (node.get("properties") or {}).items():
        yield f"properties/{prop}", f"{pointer}/properties/{_escape(prop)}", sub
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            yield key, f"{pointer}/{key}", node[key]


def v3_differences(v2: Mapping[str, Any], v3: Mapping[str, Any], *, pointer: str = "",
                   defaults: dict[str, Any], one_of: dict[str, list[Any]]) -> None:
    """Record the ``default`` and ``oneOf`` of every node of a native v3 schema into the dicts."""
    if "default" in v3:
        defaults[pointer] = v3["default"]
    if "oneOf" in v3 and "oneOf" not in v2:
        one_of[pointer] = v3["oneOf"]
    v3_children = {key: sub for key, _, sub in _children(v3, pointer)}
    for key, child_pointer, v2_sub in _children(v2, pointer):
        v3_sub = v3_children.get(key)
        if isinstance(v3_sub, dict):
            v3_differences(v2_sub, v3_sub, pointer=child_pointer, defaults=defaults, one_of=one_of)


def v3_extras(kept: Mapping[str, Any], native: Mapping[str, Any]) -> V3Extras:
    """Derive the v3-only facts and prove that conversion plus those facts reproduces upstream's v3."""
    defaults: dict[str, dict[str, Any]] = {}
    one_of: dict[str, dict[str, list[Any]]] = {}
    mismatched: list[str] = []
    covered: set[str] = set()
    for name, v2_schema in kept.items():
        v3_schema = native.get(name)
        if v3_schema is None:
            continue
        covered.add(name)
        found_defaults: dict[str, Any] = {}
        found_one_of: dict[str, list[Any]] = {}
        v3_differences(v2_schema, v3_schema, defaults=found_defaults, one_of=found_one_of)
        if found_defaults:
            defaults[name] = found_defaults
        if found_one_of:
            one_of[name] = found_one_of
        converted = to_v3_schema(v2_schema, defaults=found_defaults, one_of=found_one_of)
        if converted != v3_schema:
            mismatched.append(name)
    if mismatched:
        raise ExtractError(
            f"{len(mismatched)} definitions do not convert to upstream's v3 schema even with their "
            f"defaults and oneOf applied (v2 and v3 inputs from different releases?): "
            + ", ".join(mismatched[:20])
        )
    return V3Extras(defaults=defaults, one_of=one_of, covered=frozenset(covered))


def build(
    *,
    swagger: Mapping[str, Any],
    swagger_origin: str,
    native_v3: Mapping[str, Any] | None,
    kinds: Sequence[tuple[str, str, str]],
    kubernetes_version: str,
    sources: Mapping[str, str],
) -> tuple[dict[str, Any], V3Extras | None]:
    """The data-file document (and the v3 facts found, for reporting)."""
    definitions = v2_definitions(swagger, origin=swagger_origin)
    kept = closure(definitions, root_definitions(definitions, kinds))
    extras = v3_extras(kept, native_v3) if native_v3 is not None else None
    doc: dict[str, Any] = {
        "format": DATA_FORMAT,
        "kubernetesVersion": kubernetes_version,
        "sources": dict(sources),
        "definitions": kept,
        "v3": {"defaults": extras.defaults, "oneOf": extras.one_of} if extras else {},
    }
    return doc, extras


def encode(doc: Mapping[str, Any]) -> bytes:
    """Compact JSON with sorted keys, gzip-compressed with no timestamp: same input, same bytes."""
    return gzip.compress(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS), compresslevel=9, mtime=0)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    parser.add_argument("--swagger", type=Path, required=True,
                        help="upstream api/openapi-spec/swagger.json (OpenAPI v2)")
    parser.add_argument("--v3-dir", type=Path,
                        help="directory of upstream api/openapi-spec/v3 documents of the same release")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="default: %(default)s")
    parser.add_argument("--kubernetes-version", default="1.32", help="release the inputs are from")
    parser.add_argument("--v2-source", default=DEFAULT_V2_SOURCE,
                        help="provenance of --swagger recorded in the data (no local paths)")
    parser.add_argument("--v3-source", default=DEFAULT_V3_SOURCE,
                        help="provenance of --v3-dir recorded in the data (no local paths)")
    args = parser.parse_args(argv)

    try:
        swagger = load_json(args.swagger)
        native_v3 = None
        sources = {"v2": args.v2_source}
        if args.v3_dir is not None:
            native_v3, v3_files = v3_schemas(args.v3_dir)
            sources["v3"] = args.v3_source
        doc, extras = build(swagger=swagger, swagger_origin=str(args.swagger), native_v3=native_v3,
                            kinds=KINDS, kubernetes_version=args.kubernetes_version, sources=sources)
        data = encode(doc)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.output.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(args.output)  # never leave a half-written data file behind
    except ExtractError as exc:
        print(f"extract_openapi: {exc}", file=sys.stderr)
        return 1

    raw_size = len(orjson.dumps(doc))
    print(f"wrote {args.output}: {len(doc['definitions'])} definitions, "
          f"{len(data):,} bytes gzip ({raw_size:,} bytes JSON)")
    if extras is not None:
        uncovered = sorted(set(doc["definitions"]) - extras.covered)
        print(f"v3: {v3_files} documents; {len(extras.covered)} definitions checked equal to upstream v3 "
              f"after conversion; {sum(map(len, extras.defaults.values()))} defaults in "
              f"{len(extras.defaults)} definitions; oneOf in {', '.join(sorted(extras.one_of)) or 'none'}")
        if uncovered:
            print(f"v3: not in any v3 document (converted without v3 facts): {', '.join(uncovered)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
