"""The upstream Kubernetes OpenAPI definitions kubelite serves, loaded once from package data.

Where the data comes from
-------------------------
``definitions.json.gz`` next to this module is written by ``tools/extract_openapi.py`` from the
OpenAPI documents that Kubernetes publishes for release 1.32:

* OpenAPI v2 (the schemas themselves): ``api/openapi-spec/swagger.json`` of kubernetes/kubernetes
  branch ``release-1.32``, as vendored unmodified by kubernetes-client/python at tag ``v32.0.1``
  (path ``kubernetes/swagger.json.unprocessed``; that release's ``scripts/constants.py`` says
  ``KUBERNETES_BRANCH = "release-1.32"``).
* OpenAPI v3 (only the facts v2 cannot carry): ``api/openapi-spec/v3/*.json`` of kubernetes/kubernetes
  ``release-1.32``, as vendored by kubernetes-sigs/kubectl-validate under
  ``pkg/openapiclient/builtins/1.32/``. From these the extractor keeps the per-field ``default``
  values (the Go zero values and ``+default`` markers the v3 builder emits, e.g. ``"TCP"`` for
  ``ContainerPort.protocol``) and the ``oneOf`` of IntOrString and Quantity, so that the v3
  documents built here equal upstream's schema for schema.

The file holds the definitions of the kinds kubelite serves (core/v1 Pod, apps/v1 Deployment, ...
listed in the extractor) and everything they reference, plus every ``io.k8s.apimachinery`` type,
with descriptions kept because ``kubectl explain`` prints them. Paths are not stored: the API server
generates them for the resources it actually serves.

Design
------
The data is immutable reference material, so it is parsed once per process (lazily, under a lock,
because the API server, the struct generator and the tests may all ask first) and shared. Callers
get deep copies from the public accessors; the modules of this package read the shared copy
through :func:`schema_data` and never mutate it.
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Final, NamedTuple

import orjson

JSONDict = dict[str, Any]

DATA_FILE: Final = "definitions.json.gz"
DATA_FORMAT: Final = 1
V2_REF_PREFIX: Final = "#/definitions/"
GVK_EXTENSION: Final = "x-kubernetes-group-version-kind"


class OpenAPIDataError(RuntimeError):
    """The packaged OpenAPI data is missing or malformed (regenerate it with tools/extract_openapi.py)."""


class UnknownDefinitionError(LookupError):
    """A definition name that the packaged data does not contain."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"no OpenAPI definition named {name!r} in kubelite's Kubernetes schema data; names are "
            "upstream's, e.g. 'io.k8s.api.core.v1.Pod' (see kinds() for the kinds that are present)"
        )
        self.name = name


class KindInfo(NamedTuple):
    """One group/version/kind of the data and the definition that describes it."""

    group: str
    version: str
    kind: str
    definition: str


@dataclass(frozen=True)
class SchemaData:
    """Everything in the data file, parsed and indexed.

    ``v3_defaults`` maps a definition name to {JSON pointer inside that definition: default value};
    ``v3_one_of`` maps a definition name to {JSON pointer: oneOf list}. Both are applied only when
    converting to OpenAPI v3, because upstream's v2 document carries neither.
    """

    kubernetes_version: str
    sources: Mapping[str, str]
    definitions: Mapping[str, JSONDict]
    v3_defaults: Mapping[str, Mapping[str, Any]]
    v3_one_of: Mapping[str, Mapping[str, list[JSONDict]]]
    gvk_index: Mapping[tuple[str, str, str], str]
    kinds: tuple[KindInfo, ...]


_lock = threading.Lock()
_cached: SchemaData | None = None


def parse_schema_data(raw: bytes, *, origin: str) -> SchemaData:
    """Parse the gzip-compressed JSON of a data file; ``origin`` names it in error messages."""
    try:
        doc = orjson.loads(gzip.decompress(raw))
    except (OSError, EOFError, orjson.JSONDecodeError) as exc:
        raise OpenAPIDataError(f"{origin}: not gzip-compressed JSON ({exc}); "
                               "regenerate it with tools/extract_openapi.py") from exc
    if not isinstance(doc, dict) or doc.get("format") != DATA_FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise OpenAPIDataError(f"{origin}: data format {found!r}, this code reads format {DATA_FORMAT}; "
                               "regenerate it with tools/extract_openapi.py")
    definitions = doc.get("definitions")
    if not isinstance(definitions, dict) or not definitions:
        raise OpenAPIDataError(f"{origin}: has no 'definitions' object")
    v3 = doc.get("v3") or {}
    gvk_index: dict[tuple[str, str, str], str] = {}
    kinds: list[KindInfo] = []
    for name, schema in definitions.items():
        for gvk in schema.get(GVK_EXTENSION, ()):
            key = (gvk["group"], gvk["version"], gvk["kind"])
            # Upstream gives each served kind exactly one definition; a clash means a bad extraction.
            if key in gvk_index and gvk_index[key] != name:
                raise OpenAPIDataError(f"{origin}: kind {key} is claimed by both {gvk_index[key]!r} "
                                       f"and {name!r}")
            gvk_index[key] = name
            kinds.append(KindInfo(*key, name))
    kinds.sort()
    return SchemaData(
        kubernetes_version=str(doc.get("kubernetesVersion", "")),
        sources=dict(doc.get("sources") or {}),
        definitions=definitions,
        v3_defaults=v3.get("defaults") or {},
        v3_one_of=v3.get("oneOf") or {},
        gvk_index=gvk_index,
        kinds=tuple(kinds),
    )


def load_schema_data(path: Path) -> SchemaData:
    """Read a data file from ``path`` (the packaged one is read by :func:`schema_data`)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise OpenAPIDataError(f"cannot read OpenAPI data {path}: {exc.strerror}") from exc
    return parse_schema_data(raw, origin=str(path))


def schema_data() -> SchemaData:
    """The packaged data, parsed on first use and shared afterwards. Treat it as read-only."""
    global _cached
    if _cached is None:
        with _lock:
            if _cached is None:
                resource = resources.files(__package__).joinpath(DATA_FILE)
                try:
                    raw = resource.read_bytes()
                except OSError as exc:
                    raise OpenAPIDataError(
                        f"kubelite's OpenAPI data {DATA_FILE} is missing from kubelite.api.openapi "
                        f"({exc.strerror}); regenerate it with tools/extract_openapi.py"
                    ) from exc
                _cached = parse_schema_data(raw, origin=f"kubelite.api.openapi/{DATA_FILE}")
    return _cached


def copy_json(value: Any) -> Any:
    """A deep copy of plain JSON data (orjson round trip: several times faster than copy.deepcopy)."""
    return orjson.loads(orjson.dumps(value))


def ref_name(ref: str) -> str:
    """The definition name a v2 ``$ref`` ("#/definitions/<name>") points to."""
    if not ref.startswith(V2_REF_PREFIX):
        raise OpenAPIDataError(f"reference {ref!r} does not start with {V2_REF_PREFIX!r}")
    return ref[len(V2_REF_PREFIX):]


def definition(name: str) -> JSONDict:
    """The shared (read-only) v2 schema of one definition; raises UnknownDefinitionError."""
    try:
        return schema_data().definitions[name]
    except KeyError:
        raise UnknownDefinitionError(name) from None


def definitions() -> dict[str, JSONDict]:
    """All definitions as upstream's v2 document has them, keyed by upstream name; a private copy."""
    result: dict[str, JSONDict] = copy_json(schema_data().definitions)
    return result


def definition_for(group: str, version: str, kind: str) -> str | None:
    """The definition name of a kind ("" is the core group), found via x-kubernetes-group-version-kind."""
    return schema_data().gvk_index.get((group, version, kind))


def kinds() -> list[KindInfo]:
    """Every (group, version, kind, definition) in the data, sorted.

    Meta types that upstream marks with every group-version (DeleteOptions, WatchEvent) appear once
    per group-version, exactly as upstream lists them.
    """
    return list(schema_data().kinds)


def kubernetes_version() -> str:
    """The Kubernetes minor release the data was extracted from, e.g. "1.32"."""
    return schema_data().kubernetes_version
