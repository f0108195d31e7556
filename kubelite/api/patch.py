"""The three PATCH formats of the Kubernetes API: JSON patch, JSON merge patch, strategic merge patch.

Design
------
The API server's PATCH handler decodes the request body and calls one pure function per
``Content-Type``; everything else (the 415 for strategic merge patch on custom resources, the
resourceVersion precondition, validation of the result) is the handler's business:

=====================================  ============================================================
``application/json-patch+json``        :func:`apply_json_patch` (RFC 6902, RFC 6901 pointers)
``application/merge-patch+json``       :func:`apply_merge_patch` (RFC 7386)
``application/strategic-merge-patch``  :func:`apply_strategic_merge_patch` with a :class:`MergeSchema`
=====================================  ============================================================

All three take and return decoded JSON values (``dict``, ``list``, ``str``, ``int``, ``float``,
``bool``, ``None``), never mutate their arguments and either return the whole new document or
raise :class:`PatchError`. A failed patch therefore changes nothing, and an error always says which
operation or field was wrong and why. ``PatchError.status`` is the HTTP status upstream answers with.

Upstream behaviour is the reference: the API server uses ``gopkg.in/evanphx/json-patch.v4`` for JSON
patch and merge patch and ``k8s.io/apimachinery/pkg/util/strategicpatch`` for strategic merge patch,
and kubectl and the client libraries rely on their quirks. Where that behaviour is a quirk rather than
an accident it is kept, and listed here so nobody "fixes" it by reading only the RFCs:

* JSON patch ``replace`` of a missing *object member* adds it (json-patch v4 looks members up without
  a presence check; ``replace`` of a missing *array index* fails as the RFC says).
* JSON patch ``test`` of a missing object member succeeds when the expected value is ``null``; people
  use it to assert that a label or annotation is absent.
* Negative array indices count from the end (v4 ``SupportNegativeIndices`` defaults to true and
  Kubernetes keeps it), for every operation; for ``add``, ``-1`` means "append".
* At most 10 000 operations (413) and at most 3 MiB copied by ``copy`` operations in one patch
  (the API server's defaults), both keyword arguments.
* Merge patch drops ``null`` members of objects that are added (also inside arrays), so ``null``
  never reaches a stored object; ``null`` elements of arrays are kept.
* Strategic merge patch orders merged lists exactly as upstream: items the patch names in patch
  (or ``$setElementOrder``) order, live-only items in live order slotted in where the live list
  has them, so items new to the live list come before live-only ones (``kubectl patch`` adding a
  container puts it first). That includes an ordering effect of Go slice aliasing that
  ``kubectl apply`` results depend on (see ``_merge_list``). ``$patch: merge`` is rejected (it is
  a schema strategy, not a patch directive); ``$retainKeys`` is honoured in any map.

Where upstream behaviour is an accident (a Go panic, a silently written ``null``, a directive that
leaks into the stored object, a 500 for a bad patch) this module is stricter or cleaner instead:

* JSON patch ``add``/``replace``/``test`` need ``value`` and ``copy`` needs an existing ``from`` (v4
  writes ``null``); ``move`` into its own child is refused (RFC 6902 4.4); malformed ``~`` escapes
  and pointers without a leading ``/`` are refused (RFC 6901); ``add`` at ``""`` replaces the
  document as the RFC says (v4 refuses it).
* Strategic merge patch values that land without anything to merge with (a new field, a type
  change, a ``replace`` strategy, a non-merging list) are cleaned of every directive and of ``null``
  members, so no ``$patch``, ``$retainKeys``, ``$setElementOrder/..`` or
  ``$deleteFromPrimitiveList/..`` key reaches the result; a new map holding ``$patch: replace`` keeps
  its content (upstream drops the whole map). Other ``$``-keys (``$ref``, ``$schema`` in CRD
  schemas) are ordinary fields.
* Error messages carry the field path, with list indices counted in the patch
  (kubernetes/kubernetes#141112 asks upstream for the same).

Status codes (``PatchError.status``), chosen as the upstream API server answers:

* 400 Bad Request: the patch document has the wrong shape (JSON patch not an array of objects, merge
  or strategic patch not an object) or a strategic directive is malformed (``$retainKeys``,
  ``$setElementOrder``, ``$deleteFromPrimitiveList``, unknown ``$patch`` value) -- upstream maps
  ``mergepatch.ErrBadPatchFormat*`` to 400.
* 413 Request Entity Too Large: more JSON patch operations than allowed.
* 422 Unprocessable Entity: the patch is well formed but cannot be applied to this object: a JSON
  patch operation fails, **including a failed** ``test`` (upstream answers 422 for every
  ``Patch.Apply`` error; 409 is reserved for resourceVersion conflicts, which the handler raises),
  a merge key is missing, list elements have mixed types, lists of lists, nesting deeper than
  Python's recursion limit. Upstream leaks some of these as 500s; a bad patch is never a server
  error here.

Strategic merge patch needs to know, per field, whether a list is merged (and by which key) or
replaced; :class:`MergeSchema` is that lookup, built elsewhere from the OpenAPI
``x-kubernetes-patch-strategy`` / ``x-kubernetes-patch-merge-key`` extensions, or by hand with
:class:`DictMergeSchema`. An unknown field (lookup returns ``None``) gets merge-patch semantics:
maps merge, lists are replaced.
"""

from __future__ import annotations

import json
import re
from collections.abc import Hashable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final, NamedTuple, Protocol, TypeAlias

import orjson

JSON: TypeAlias = Any
"""A decoded JSON value: dict (str keys), list, str, int, float, bool or None."""

HTTP_BAD_REQUEST: Final = 400
HTTP_REQUEST_ENTITY_TOO_LARGE: Final = 413
HTTP_UNPROCESSABLE_ENTITY: Final = 422

MAX_JSON_PATCH_OPERATIONS: Final = 10_000
"""Upstream ``maxJSONPatchOperations`` (k8s.io/apiserver/pkg/endpoints/handlers/patch.go)."""

MAX_JSON_PATCH_COPY_BYTES: Final = 3 * 1024 * 1024
"""Upstream ``JSONPatchMaxCopyBytes`` default (k8s.io/apiserver/pkg/server/config.go)."""

JSON_PATCH_OPERATIONS: Final = ("add", "remove", "replace", "move", "copy", "test")

STRATEGY_MERGE: Final = "merge"
STRATEGY_REPLACE: Final = "replace"
STRATEGY_RETAIN_KEYS: Final = "retainKeys"
PATCH_STRATEGIES: Final = frozenset({STRATEGY_MERGE, STRATEGY_REPLACE, STRATEGY_RETAIN_KEYS})

_DIRECTIVE: Final = "$patch"
_DELETE: Final = "delete"
_REPLACE: Final = "replace"
_MERGE: Final = "merge"
_RETAIN_KEYS: Final = "$retainKeys"
_SET_ORDER: Final = "$setElementOrder"
_DELETE_FROM_PRIMITIVE: Final = "$deleteFromPrimitiveList"

_MESSAGE_VALUE_CHARS: Final = 200


class PatchError(Exception):
    """A patch that cannot be applied.

    ``status`` is the HTTP status the API server answers with (400, 413 or 422, see the module
    docstring); ``operation`` is the index of the failing JSON patch operation and ``path`` the JSON
    pointer or field path the error is about, when there is one.
    """

    def __init__(self, message: str, *, status: int, operation: int | None = None, path: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.operation = operation
        self.path = path

    def __repr__(self) -> str:
        return f"PatchError({self.message!r}, status={self.status})"


# --------------------------------------------------------------------------------------------------
# Shared JSON helpers


def _kind(value: JSON) -> str:
    """The JSON type name of a decoded value; bool is checked before int because it subclasses it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _copy(value: JSON) -> JSON:
    """Deep copy of a JSON value (much cheaper than copy.deepcopy: no memo, no reduce protocol)."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _show(value: JSON) -> str:
    """A JSON value rendered for an error message, shortened so a huge object cannot flood a Status."""
    try:
        text = json.dumps(value, sort_keys=False, separators=(",", ":"), ensure_ascii=False, default=repr)
    except (TypeError, ValueError):  # not JSON data (a caller bug); still say something useful
        text = repr(value)
    if len(text) > _MESSAGE_VALUE_CHARS:
        text = text[: _MESSAGE_VALUE_CHARS - 3] + "..."
    return text


@contextmanager
def _nesting_guard() -> Iterator[None]:
    """Turn Python's recursion limit into a patch error: every helper here recurses over the
    document, and a client must not be able to crash a request with 1000 nested arrays."""
    try:
        yield
    except RecursionError:
        raise PatchError(
            "the object or the patch is nested too deeply to be patched", status=HTTP_UNPROCESSABLE_ENTITY
        ) from None


def json_equal(a: JSON, b: JSON) -> bool:
    """JSON equality: objects unordered, arrays ordered, numbers by value, ``true`` is not ``1``."""
    kind = _kind(a)
    if kind != _kind(b):
        return False
    if kind == "object":
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if kind == "array":
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _json_size(value: JSON) -> int:
    """Bytes of the compact JSON encoding, which is what upstream charges a ``copy`` for."""
    try:
        return len(orjson.dumps(value))
    except (orjson.JSONEncodeError, TypeError):  # e.g. integers beyond 64 bits
        return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


# --------------------------------------------------------------------------------------------------
# JSON patch (RFC 6902) with JSON pointers (RFC 6901)

_INDEX_RE: Final = re.compile(r"[+-]?[0-9]+")
_BAD_ESCAPE_RE: Final = re.compile(r"~(?![01])")


class _JSONPatchOp:
    """One operation being applied; knows how to word its errors."""

    def __init__(self, *, index: int, raw: Mapping[str, JSON]) -> None:
        self.index = index
        self.raw = raw
        op = raw.get("op")
        self.name = op if isinstance(op, str) else "unknown"
        path = raw.get("path")
        self.path_text = path if isinstance(path, str) else None

    def error(self, reason: str, *, path: str | None = None) -> PatchError:
        where = f' "{self.path_text}"' if self.path_text is not None else ""
        return PatchError(
            f"json patch operation {self.index} ({self.name}{where}): {reason}",
            status=HTTP_UNPROCESSABLE_ENTITY,
            operation=self.index,
            path=path if path is not None else self.path_text,
        )

    def member(self, name: str) -> JSON:
        if name not in self.raw:
            raise self.error(f'missing "{name}" member (required for a "{self.name}" operation)')
        return self.raw[name]

    def pointer(self, name: str) -> list[str]:
        """The reference tokens of the ``path`` or ``from`` member."""
        text = self.member(name)
        if not isinstance(text, str):
            raise self.error(f'"{name}" must be a string (a JSON pointer), got {_kind(text)}')
        if text == "":
            return []
        if not text.startswith("/"):
            raise self.error(f'"{name}" {text!r} is not a JSON pointer: it must be "" or start with "/"')
        if _BAD_ESCAPE_RE.search(text):
            raise self.error(f'"{name}" {text!r} has a "~" not followed by "0" or "1" (RFC 6901 escapes)')
        # Order matters (RFC 6901 section 4): "~01" is "~1" literally, not "/".
        return [token.replace("~1", "/").replace("~0", "~") for token in text[1:].split("/")]


def _pointer_text(tokens: list[str]) -> str:
    return "".join("/" + t.replace("~", "~0").replace("/", "~1") for t in tokens)


def _array_index(op: _JSONPatchOp, token: str, *, length: int, inserting: bool) -> int:
    """Resolve an array reference token to a position, the way json-patch v4 does (negatives count
    from the end; ``-`` appends when inserting)."""
    if inserting and token == "-":
        return length
    if not _INDEX_RE.fullmatch(token):
        raise op.error(f"value was not a proper array index: {token!r}")
    index = int(token)
    size = length + 1 if inserting else length
    if index < 0:
        index += size
    if not 0 <= index < size:
        limit = f"0..{size - 1}" if size else "none, the array is empty"
        raise op.error(f"Unable to access invalid index: {token} (array length {length}, valid: {limit})")
    return index


def _resolve_parent(op: _JSONPatchOp, root: list[JSON], tokens: list[str]) -> dict[str, JSON] | list[JSON]:
    """The container that holds the last token of ``tokens``; ``root`` is a one-element holder."""
    node: JSON = root[0]
    for depth, token in enumerate(tokens[:-1]):
        if isinstance(node, dict):
            if token not in node:
                raise op.error(f'doc is missing path: "{_pointer_text(tokens[: depth + 1])}"')
            node = node[token]
        elif isinstance(node, list):
            node = node[_array_index(op, token, length=len(node), inserting=False)]
        else:
            raise op.error(
                f'doc is missing path: "{_pointer_text(tokens[: depth + 1])}": '
                f'"{_pointer_text(tokens[:depth])}" is a {_kind(node)}, not an object or array'
            )
    if not isinstance(node, dict | list):
        raise op.error(
            f'doc is missing path: "{_pointer_text(tokens)}": '
            f'"{_pointer_text(tokens[:-1])}" is a {_kind(node)}, not an object or array'
        )
    return node


def _get(op: _JSONPatchOp, root: list[JSON], tokens: list[str], *, what: str) -> JSON:
    if not tokens:
        return root[0]
    parent = _resolve_parent(op, root, tokens)
    key = tokens[-1]
    if isinstance(parent, dict):
        if key not in parent:
            raise op.error(f'{what} "{_pointer_text(tokens)}" does not exist')
        return parent[key]
    return parent[_array_index(op, key, length=len(parent), inserting=False)]


def _add(op: _JSONPatchOp, root: list[JSON], tokens: list[str], value: JSON) -> None:
    if not tokens:
        root[0] = value
        return
    parent = _resolve_parent(op, root, tokens)
    key = tokens[-1]
    if isinstance(parent, dict):
        parent[key] = value
    else:
        parent.insert(_array_index(op, key, length=len(parent), inserting=True), value)


def _remove(op: _JSONPatchOp, root: list[JSON], tokens: list[str]) -> JSON:
    if not tokens:
        raise op.error("cannot remove the whole document")
    parent = _resolve_parent(op, root, tokens)
    key = tokens[-1]
    if isinstance(parent, dict):
        if key not in parent:
            raise op.error(f"Unable to remove nonexistent key: {key!r}")
        return parent.pop(key)
    return parent.pop(_array_index(op, key, length=len(parent), inserting=False))


def _replace(op: _JSONPatchOp, root: list[JSON], tokens: list[str], value: JSON) -> None:
    if not tokens:
        root[0] = value
        return
    parent = _resolve_parent(op, root, tokens)
    key = tokens[-1]
    if isinstance(parent, dict):
        # json-patch v4 (used by the Kubernetes API server) replaces a missing member by adding it;
        # clients depend on it, e.g. "replace /metadata/labels/x" on an object without that label.
        parent[key] = value
    else:
        parent[_array_index(op, key, length=len(parent), inserting=False)] = value


def _test(op: _JSONPatchOp, root: list[JSON], tokens: list[str], expected: JSON) -> None:
    if tokens:
        parent = _resolve_parent(op, root, tokens)
        key = tokens[-1]
        if isinstance(parent, dict):
            if key not in parent:
                # v4 compatibility: testing a missing member against null succeeds.
                if expected is None:
                    return
                raise op.error(f"test failed: no value at the path, expected {_show(expected)}")
            actual = parent[key]
        else:
            actual = parent[_array_index(op, key, length=len(parent), inserting=False)]
    else:
        actual = root[0]
    if not json_equal(actual, expected):
        raise op.error(f"test failed: value is {_show(actual)}, expected {_show(expected)}")


def apply_json_patch(
    document: JSON,
    patch: JSON,
    *,
    max_operations: int = MAX_JSON_PATCH_OPERATIONS,
    max_copy_bytes: int = MAX_JSON_PATCH_COPY_BYTES,
) -> JSON:
    """Apply an RFC 6902 JSON patch (a decoded JSON array of operations) to ``document``.

    Operations apply in order to a private copy; the first failing one raises :class:`PatchError`
    (status 422 with its index and path, 400 if ``patch`` is not an array of objects, 413 for more
    than ``max_operations`` operations). ``max_copy_bytes`` bounds the total JSON size that ``copy``
    operations may duplicate (0 or less disables the bound). Returns the patched document.
    """
    if not isinstance(patch, list):
        raise PatchError(f"json patch must be a JSON array of operations, got {_kind(patch)}", status=HTTP_BAD_REQUEST)
    for index, raw in enumerate(patch):
        if not isinstance(raw, dict):
            raise PatchError(
                f"json patch operation {index} must be a JSON object, got {_kind(raw)}: {_show(raw)}",
                status=HTTP_BAD_REQUEST,
                operation=index,
            )
    if len(patch) > max_operations:
        raise PatchError(
            f"The allowed maximum operations in a JSON patch is {max_operations}, got {len(patch)}",
            status=HTTP_REQUEST_ENTITY_TOO_LARGE,
        )
    with _nesting_guard():
        return _apply_operations(document, patch, max_copy_bytes=max_copy_bytes)


def _apply_operations(document: JSON, patch: list[dict[str, JSON]], *, max_copy_bytes: int) -> JSON:
    root: list[JSON] = [_copy(document)]
    copied = 0
    for index, raw in enumerate(patch):
        op = _JSONPatchOp(index=index, raw=raw)
        if "op" not in raw:
            raise op.error(f'missing "op" member (one of {", ".join(JSON_PATCH_OPERATIONS)})')
        if op.name not in JSON_PATCH_OPERATIONS or not isinstance(raw["op"], str):
            raise op.error(f"unsupported op {_show(raw['op'])} (one of {', '.join(JSON_PATCH_OPERATIONS)})")
        path = op.pointer("path")
        if op.name == "add":
            _add(op, root, path, _copy(op.member("value")))
        elif op.name == "remove":
            _remove(op, root, path)
        elif op.name == "replace":
            _replace(op, root, path, _copy(op.member("value")))
        elif op.name == "test":
            _test(op, root, path, op.member("value"))
        else:
            source = op.pointer("from")
            if op.name == "move":
                if source == path:
                    _get(op, root, source, what="from")  # RFC 6902 4.4: a no-op, but "from" must exist
                    continue
                if path[: len(source)] == source:
                    raise op.error(f'cannot move "{_pointer_text(source)}" into one of its own children')
                _get(op, root, source, what="from")
                _add(op, root, path, _remove(op, root, source))
            else:
                value = _copy(_get(op, root, source, what="from"))
                copied += _json_size(value)
                if 0 < max_copy_bytes < copied:
                    raise op.error(
                        "Unable to complete the copy, the accumulated size increase of copy is "
                        f"{copied}, exceeding the limit {max_copy_bytes}"
                    )
                _add(op, root, path, value)
    return root[0]


# --------------------------------------------------------------------------------------------------
# JSON merge patch (RFC 7386)


def _without_nulls(value: JSON) -> JSON:
    """A copy of a patch value with ``null`` object members dropped at every depth (json-patch v4
    ``pruneNulls``: also inside arrays; ``null`` array elements stay)."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _merge_patch(target: JSON, patch: JSON) -> JSON:
    if not isinstance(patch, dict):
        return _without_nulls(patch)
    result = target if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge_patch(result.get(key), value)
    return result


def apply_merge_patch(original: JSON, patch: JSON) -> JSON:
    """Apply an RFC 7386 JSON merge patch: ``null`` deletes a member, objects merge recursively,
    everything else (arrays included) replaces.

    The patch must be a JSON object (every Kubernetes object is one; upstream answers 400 "Invalid
    JSON Patch" otherwise). Neither argument is modified.
    """
    if not isinstance(patch, dict):
        raise PatchError(
            f"Invalid JSON Patch: a merge patch must be a JSON object, got {_kind(patch)}",
            status=HTTP_BAD_REQUEST,
        )
    with _nesting_guard():
        return _merge_patch(_copy(original), patch)


# --------------------------------------------------------------------------------------------------
# Strategic merge patch: schema


@dataclass(frozen=True, slots=True)
class FieldMeta:
    """What strategic merge patch needs to know about one field.

    ``strategies`` is the ``x-kubernetes-patch-strategy`` list (``merge``, ``replace``,
    ``retainKeys``; ``merge`` and ``replace`` exclude each other), ``merge_key`` the
    ``x-kubernetes-patch-merge-key`` of a merged list of objects, ``schema`` the schema of the field's
    value -- for a list, of its items -- or ``None`` when unknown.
    """

    strategies: frozenset[str] = frozenset()
    merge_key: str | None = None
    schema: MergeSchema | None = None

    def __post_init__(self) -> None:
        unknown = self.strategies - PATCH_STRATEGIES
        if unknown:
            raise ValueError(
                f"unknown patch strategy {', '.join(sorted(unknown))!s}: "
                f"allowed are {', '.join(sorted(PATCH_STRATEGIES))}"
            )
        if {STRATEGY_MERGE, STRATEGY_REPLACE} <= self.strategies:
            raise ValueError('patch strategies "merge" and "replace" exclude each other')
        if self.merge_key == "":
            raise ValueError("merge_key must be a non-empty field name or None")

    @property
    def merges(self) -> bool:
        return STRATEGY_MERGE in self.strategies

    @property
    def replaces(self) -> bool:
        return STRATEGY_REPLACE in self.strategies


class MergeSchema(Protocol):
    """Patch metadata of the fields of one object type."""

    def field(self, name: str) -> FieldMeta | None:
        """Metadata of field ``name``, or ``None`` if the type has no such field."""
        ...


_UNKNOWN_FIELD: Final = FieldMeta()

_FIELD_SPEC_KEYS: Final = frozenset({"strategy", "merge_key", "fields"})


def _check_field_specs(fields: Mapping[str, Any], *, where: str, seen: set[int]) -> None:
    """Validate a DictMergeSchema spec once, following nested ``fields`` (which may be cyclic)."""
    if id(fields) in seen:
        return
    seen.add(id(fields))
    if not isinstance(fields, Mapping):
        raise ValueError(f"{where or 'schema'}: fields must be a mapping of field name to field spec")
    for name, spec in fields.items():
        at = f"{where}.{name}" if where else str(name)
        if not isinstance(name, str) or not name:
            raise ValueError(f"{at}: field names must be non-empty strings, got {name!r}")
        if not isinstance(spec, Mapping):
            raise ValueError(f"{at}: field spec must be a mapping, got {type(spec).__name__}")
        extra = set(spec) - _FIELD_SPEC_KEYS
        if extra:
            raise ValueError(
                f"{at}: unknown field spec key {', '.join(sorted(map(str, extra)))} "
                f"(allowed: {', '.join(sorted(_FIELD_SPEC_KEYS))})"
            )
        strategy = spec.get("strategy", "")
        if not isinstance(strategy, str):
            raise ValueError(f"{at}: strategy must be a string such as 'merge' or 'merge,retainKeys'")
        try:
            FieldMeta(strategies=_parse_strategies(strategy), merge_key=spec.get("merge_key"))
        except ValueError as err:
            raise ValueError(f"{at}: {err}") from None
        if "merge_key" in spec and not isinstance(spec["merge_key"], str):
            raise ValueError(f"{at}: merge_key must be a string")
        if "fields" in spec:
            _check_field_specs(spec["fields"], where=at, seen=seen)


def _parse_strategies(text: str) -> frozenset[str]:
    return frozenset(s.strip() for s in text.split(",") if s.strip())


class DictMergeSchema:
    """A :class:`MergeSchema` written as nested dicts, for tests and hand-written schemas.

    ``fields`` maps field name to a spec with optional keys ``strategy`` (the OpenAPI extension
    text, e.g. ``"merge"`` or ``"merge,retainKeys"``), ``merge_key`` and ``fields`` (the spec of the
    value's fields; of the items' fields for a list). The name ``"*"`` matches every field not listed,
    which describes maps such as ``map[string]T``. Specs may refer to themselves (recursive types)::

        container = {"name": {}, "ports": {"strategy": "merge", "merge_key": "containerPort"}}
        pod = DictMergeSchema({"spec": {"fields": {
            "containers": {"strategy": "merge", "merge_key": "name", "fields": container},
        }}})
    """

    def __init__(self, fields: Mapping[str, Mapping[str, Any]]) -> None:
        _check_field_specs(fields, where="", seen=set())
        self._fields = fields
        self._cache: dict[str, FieldMeta] = {}

    def field(self, name: str) -> FieldMeta | None:
        cached = self._cache.get(name)
        if cached is not None:
            return cached
        spec = self._fields.get(name)
        if spec is None:
            spec = self._fields.get("*")
            if spec is None:
                return None
        nested = spec.get("fields")
        meta = FieldMeta(
            strategies=_parse_strategies(spec.get("strategy", "")),
            merge_key=spec.get("merge_key"),
            # Built lazily, one level per lookup, so self-referential specs terminate.
            schema=DictMergeSchema(nested) if nested is not None else None,
        )
        self._cache[name] = meta
        return meta


# --------------------------------------------------------------------------------------------------
# Strategic merge patch: application
#
# A port of k8s.io/apimachinery/pkg/util/strategicpatch StrategicMergeMapPatch (mergeMap and
# helpers, with MergeParallelList and IgnoreUnmatchedNulls set, as the API server calls it), working
# on private copies so that it may mutate freely.


def _field_path(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _format_error(message: str, *, path: str, status: int = HTTP_UNPROCESSABLE_ENTITY) -> PatchError:
    prefix = f"{path}: " if path else ""
    return PatchError(prefix + message, status=status, path=path or None)


def _scalar_key(value: JSON, *, path: str, what: str) -> Hashable:
    """A hashable identity for comparing primitives as Go's ``==`` on decoded JSON does, except that
    ``1`` and ``1.0`` are the same number (upstream would call them different types)."""
    kind = _kind(value)
    if kind in ("object", "array"):
        raise _format_error(f"{what} must be a string, number, boolean or null, got {kind}: {_show(value)}", path=path)
    return (kind, value)


def _field_meta(schema: MergeSchema | None, name: str) -> FieldMeta:
    if schema is None:
        return _UNKNOWN_FIELD
    meta = schema.field(name)
    return _UNKNOWN_FIELD if meta is None else meta


def _directive_key(key: str, prefix: str, *, path: str) -> str:
    """The list field named by ``$setElementOrder/<field>`` or ``$deleteFromPrimitiveList/<field>``."""
    head, sep, field = key.partition("/")
    if head != prefix or not sep or not field:
        what = "primitive list" if prefix == _DELETE_FROM_PRIMITIVE else "setElementOrder list"
        raise _format_error(
            f"invalid patch format of {what}: {key!r} must be {prefix}/<name of a list field>",
            path=path,
            status=HTTP_BAD_REQUEST,
        )
    return field


def _check_list_directive(key: str, value: JSON, *, path: str) -> str:
    """Validate a ``$setElementOrder/<field>`` or ``$deleteFromPrimitiveList/<field>`` entry and
    return the field it names."""
    prefix = _SET_ORDER if key.startswith(_SET_ORDER) else _DELETE_FROM_PRIMITIVE
    field = _directive_key(key, prefix, path=path)
    if not isinstance(value, list):
        what = "setElementOrder list" if prefix == _SET_ORDER else "primitive list"
        raise _format_error(
            f"invalid patch format of {what}: {key} must be a list, got {_show(value)}",
            path=path,
            status=HTTP_BAD_REQUEST,
        )
    return field


def _unknown_patch_type(directive: JSON, where: JSON, *, path: str) -> PatchError:
    return _format_error(
        f"unknown patch type: {_show(directive)} in map: {_show(where)} "
        f'(allowed: "{_REPLACE}" and "{_DELETE}" in maps, also in list items of merged lists)',
        path=path,
        status=HTTP_BAD_REQUEST,
    )


# Cleaning: values that land in the result without being merged with anything.


def _clean_map(patch: dict[str, JSON], *, path: str) -> dict[str, JSON] | None:
    """A patch map as it lands where nothing exists; ``None`` means "leave the field out"."""
    if _DIRECTIVE in patch:
        directive = patch[_DIRECTIVE]
        if directive == _DELETE:
            return None
        if directive != _REPLACE:
            raise _unknown_patch_type(directive, patch, path=path)
    result: dict[str, JSON] = {}
    for key, value in patch.items():
        if key == _DIRECTIVE:
            continue
        if key == _RETAIN_KEYS:
            if not isinstance(value, list):
                raise _retain_keys_format_error(value, path=path)
            continue
        if key.startswith((_SET_ORDER, _DELETE_FROM_PRIMITIVE)):
            # Nothing to order or delete from, but the directive must still be well formed.
            _check_list_directive(key, value, path=path)
            continue
        if value is None:
            continue  # upstream discardNullValuesFromPatch: null only means "delete" when merging
        cleaned, keep = _clean(value, path=_field_path(path, key))
        if keep:
            result[key] = cleaned
    return result


def _clean_list(items: list[JSON], *, path: str) -> list[JSON]:
    result: list[JSON] = []
    for index, item in enumerate(items):
        at = f"{path}[{index}]"
        if isinstance(item, dict):
            if _DIRECTIVE in item:
                # Directive items ($patch: delete / replace) act on an existing list; there is none.
                _check_list_item_directive(item[_DIRECTIVE], item, path=at)
                continue
            cleaned = _clean_map(item, path=at)
            if cleaned is not None:
                result.append(cleaned)
        elif isinstance(item, list):
            result.append(_clean_list(item, path=at))
        else:
            result.append(item)
    return result


def _clean(value: JSON, *, path: str) -> tuple[JSON, bool]:
    if isinstance(value, dict):
        cleaned = _clean_map(value, path=path)
        return cleaned, cleaned is not None
    if isinstance(value, list):
        return _clean_list(value, path=path), True
    return value, True


def _check_list_item_directive(directive: JSON, item: JSON, *, path: str) -> None:
    if directive in (_DELETE, _REPLACE):
        return
    if directive == _MERGE:
        raise _format_error(
            f"merging lists cannot yet be specified in the patch: {_show(item)}",
            path=path,
            status=HTTP_BAD_REQUEST,
        )
    raise _unknown_patch_type(directive, item, path=path)


# Directives on maps.


def _retain_keys_format_error(value: JSON, *, path: str) -> PatchError:
    return _format_error(
        f"invalid patch format of retainKeys: $retainKeys must be a list of field names, got {_show(value)}",
        path=path,
        status=HTTP_BAD_REQUEST,
    )


def _apply_retain_keys(original: dict[str, JSON], patch: dict[str, JSON], *, path: str) -> None:
    """``$retainKeys``: clear every field of ``original`` not listed (upstream applyRetainKeysDirective)."""
    if _RETAIN_KEYS not in patch:
        return
    keys = patch.pop(_RETAIN_KEYS)
    if not isinstance(keys, list):
        raise _retain_keys_format_error(keys, path=path)
    retained = {k for k in keys if isinstance(k, str)}
    for key, value in patch.items():
        if value is None or key.startswith((_DELETE_FROM_PRIMITIVE, _SET_ORDER)):
            continue
        if key not in retained:
            raise _format_error(
                f"invalid patch format of retainKeys: field {key!r} is set by the patch but is not in "
                f"$retainKeys {_show(keys)}",
                path=path,
                status=HTTP_BAD_REQUEST,
            )
    for key in [k for k in original if k not in retained]:
        del original[key]


def _merge_map(
    original: dict[str, JSON], patch: dict[str, JSON], schema: MergeSchema | None, *, path: str
) -> dict[str, JSON]:
    """Merge ``patch`` into ``original`` (both private copies, both consumed) and return the result."""
    if _DIRECTIVE in patch:
        directive = patch[_DIRECTIVE]
        if directive == _REPLACE:
            return _clean_map(patch, path=path) or {}  # never None: only $patch: delete yields None
        if directive == _DELETE:
            return {}
        raise _unknown_patch_type(directive, patch, path=path)

    _apply_retain_keys(original, patch, path=path)
    _merge_ordered_lists(original, patch, schema, path=path)

    for patch_key, patch_value in list(patch.items()):
        key = patch_key
        is_delete_list = patch_key.startswith(_DELETE_FROM_PRIMITIVE)
        if is_delete_list:
            key = _check_list_directive(patch_key, patch_value, path=path)
        at = _field_path(path, key)

        if patch_value is None:
            original.pop(key, None)
            continue

        if key not in original:
            if not is_delete_list:
                cleaned, keep = _clean(patch_value, path=at)
                if keep:
                    original[key] = cleaned
            continue

        original_value = original[key]
        if isinstance(original_value, dict) and isinstance(patch_value, dict):
            meta = _field_meta(schema, key)
            if meta.replaces:
                original[key] = _clean_map(patch_value, path=at) or {}
            else:
                original[key] = _merge_map(original_value, patch_value, meta.schema, path=at)
        elif isinstance(original_value, list) and isinstance(patch_value, list):
            meta = _field_meta(schema, key)
            if meta.merges or is_delete_list:
                original[key] = _merge_list(
                    original_value, patch_value, meta, is_delete_list=is_delete_list, path=at
                ).items
            else:
                original[key] = _clean_list(patch_value, path=at)
        elif not is_delete_list:
            # Different JSON types, or two primitives: the patch value wins (upstream compares the
            # decoded Go types and replaces on any difference).
            cleaned, keep = _clean(patch_value, path=at)
            if keep:
                original[key] = cleaned
            else:
                del original[key]
    return original


# Lists.


def _element_kind(*lists: list[JSON], path: str) -> str | None:
    """The common JSON kind of all elements (``None`` if there are none); upstream sliceElementType."""
    kind: str | None = None
    for items in lists:
        for item in items:
            item_kind = _kind(item)
            if item_kind == "array":
                raise _format_error("lists of lists are not supported", path=path)
            if kind is None:
                kind = item_kind
            elif kind != item_kind:
                raise _format_error(
                    f"list element types are not identical: {kind} and {item_kind} in {_show(list(lists))}",
                    path=path,
                )
    return kind


class _Order:
    """Positions of items in a reference list, by merge key value (maps) or by value (primitives)."""

    def __init__(self, items: Iterable[JSON], *, merge_key: str | None, path: str) -> None:
        self.merge_key = merge_key
        self.path = path
        self.positions: dict[Hashable, int] = {}
        for position, item in enumerate(items):
            self.positions.setdefault(self.identity(item), position)

    def identity(self, item: JSON) -> Hashable:
        if self.merge_key is None:
            return _scalar_key(item, path=self.path, what="list element")
        value = item.get(self.merge_key) if isinstance(item, dict) else None
        return _scalar_key(value, path=self.path, what=f"merge key {self.merge_key!r}")

    def index(self, item: JSON) -> int:
        return self.positions.get(self.identity(item), -1)

    def __contains__(self, item: JSON) -> bool:
        return self.identity(item) in self.positions


def _require_merge_keys(items: list[JSON], merge_key: str, *, path: str) -> None:
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise _format_error(
                f"list item {index} {_show(item)} is a {_kind(item)}; the items of a list merged by key "
                f"{merge_key!r} must be objects",
                path=path,
            )
        if merge_key not in item:
            raise _format_error(
                f"map: {_show(item)} does not contain declared merge key: {merge_key}",
                path=f"{path}[{index}]",
            )


def _sort_by(items: list[JSON], order: _Order) -> list[JSON]:
    """Stable sort by position in ``order``; items it does not know keep their order, last
    (upstream's comparator is not a strict weak order for them; it never sees them in practice)."""
    known = [item for item in items if item in order]
    unknown = [item for item in items if item not in order]
    return sorted(known, key=order.index) + unknown


def _normalize_slice_order(
    items: list[JSON], order_items: list[JSON], *, merge_key: str | None, path: str
) -> list[JSON]:
    """Upstream normalizeSliceOrder: sort ``items`` by ``order_items``; delete markers go last."""
    to_delete: list[JSON] = []
    if merge_key is not None:
        _require_merge_keys(items, merge_key, path=path)
        _require_merge_keys(order_items, merge_key, path=path)
        to_delete = [i for i in items if i.get(_DIRECTIVE) == _DELETE]
        items = [i for i in items if i.get(_DIRECTIVE) != _DELETE]
    return _sort_by(items, _Order(order_items, merge_key=merge_key, path=path)) + to_delete


def _merge_sorted(left: list[JSON], right: list[JSON], server_order: _Order) -> list[JSON]:
    """Upstream mergeSortedSlice: interleave server-only items (``left``) into patch items
    (``right``), keeping each list's relative order; the live list decides ties it knows about."""
    result: list[JSON] = []
    i = j = 0
    while i < len(left) or j < len(right):
        if i >= len(left):
            result.append(right[j])
            j += 1
        elif j >= len(right):
            result.append(left[i])
            i += 1
        else:
            li, ri = server_order.index(left[i]), server_order.index(right[j])
            if li >= 0 and ri >= 0 and li < ri:
                result.append(left[i])
                i += 1
            else:
                result.append(right[j])
                j += 1
    return result


def _normalize_element_order(
    patch_items: list[JSON],
    server_only: list[JSON],
    patch_order: list[JSON],
    server_order: list[JSON],
    *,
    merge_key: str | None,
    path: str,
) -> list[JSON]:
    """Upstream normalizeElementOrder: patch order for patch items, live order for the rest."""
    patch_items = _normalize_slice_order(patch_items, patch_order, merge_key=merge_key, path=path)
    server_only = _normalize_slice_order(server_only, server_order, merge_key=merge_key, path=path)
    return _merge_sorted(server_only, patch_items, _Order(server_order, merge_key=merge_key, path=path))


def _partition(
    merged: list[JSON], by: list[JSON], *, merge_key: str | None, path: str
) -> tuple[list[JSON], list[JSON]]:
    """Split ``merged`` into (items present in ``by``, the others)."""
    if merge_key is not None:
        _require_merge_keys(merged, merge_key, path=path)
    present = _Order(by, merge_key=merge_key, path=path)
    inside = [item for item in merged if item in present]
    outside = [item for item in merged if item not in present]
    return inside, outside


class _MergedList(NamedTuple):
    items: list[JSON]
    """The merged list, in its final order."""
    live_order: list[JSON]
    """What upstream's caller sees as the live list afterwards (see :func:`_merge_list`)."""


def _merge_list(
    original: list[JSON], patch: list[JSON], meta: FieldMeta, *, is_delete_list: bool, path: str
) -> _MergedList:
    """Upstream mergeSlice: merge a list with patch strategy ``merge`` (or apply a delete list).

    ``live_order`` of the result reproduces a Go slice aliasing effect that upstream's
    ``$setElementOrder`` handling depends on: ``$patch: delete`` items shift the live list's backing
    array in place and new items are appended into the freed slots, so the caller, still holding a
    slice of the original length, orders the result by "live items left, then new items". This is
    deterministic (the freed slots always lie inside the original length) and kubectl apply results,
    e.g. the order of env variables, depend on it.
    """
    if not original and not patch:
        return _MergedList(original, original)
    kind = _element_kind(original, patch, path=path)

    if kind != "object":
        if is_delete_list:
            doomed = _Order(patch, merge_key=None, path=path)
            return _MergedList([item for item in original if item not in doomed], original)
        # Union without duplicates; the order is decided below.
        seen: set[Hashable] = set()
        union: list[JSON] = []
        for item in [*original, *_clean_list(patch, path=path)]:
            identity = _scalar_key(item, path=path, what="list element")
            if identity not in seen:
                seen.add(identity)
                union.append(item)
        inside, outside = _partition(union, patch, merge_key=None, path=path)
        ordered = _normalize_element_order(inside, outside, patch, original, merge_key=None, path=path)
        return _MergedList(ordered, original)

    if is_delete_list:
        raise _format_error(
            f"invalid patch format of primitive list: {_DELETE_FROM_PRIMITIVE} applies to lists of "
            "primitives, this list holds objects (delete them with $patch: delete items)",
            path=path,
            status=HTTP_BAD_REQUEST,
        )
    merge_key = meta.merge_key
    if merge_key is None:
        raise _format_error(
            "cannot merge lists without merge key: the list has patch strategy merge but the schema "
            "declares no merge key for it",
            path=path,
        )
    backing = list(original)  # the Go backing array, as long as the caller's slice
    length, patch, replaced = _apply_list_directives(backing, patch, merge_key=merge_key, path=path)
    base = _clean_list(patch, path=path) if replaced else backing[:length]
    merged, appended = _merge_list_items(base, [] if replaced else patch, meta, merge_key=merge_key, path=path)
    if not replaced:
        for offset, item in enumerate(appended[: len(backing) - length]):
            backing[length + offset] = item
    order_patch = [] if replaced else patch
    inside, outside = _partition(merged, order_patch, merge_key=merge_key, path=path)
    ordered = _normalize_element_order(inside, outside, order_patch, base, merge_key=merge_key, path=path)
    return _MergedList(ordered, backing)


def _apply_list_directives(
    backing: list[JSON], patch: list[JSON], *, merge_key: str, path: str
) -> tuple[int, list[JSON], bool]:
    """Upstream mergeSliceWithSpecialElements: apply ``$patch: delete`` items to ``backing`` in
    place, the way Go's ``append(s[:i], s[i+1:]...)`` does (shift left, stale copy at the end), and
    note ``$patch: replace``. Returns (live length left, patch items without directives, replace?).
    When replacing, the patch items without directives become the whole list."""
    length = len(backing)
    remaining: list[JSON] = []
    replace = False
    for index, item in enumerate(patch):
        at = f"{path}[{index}]"
        if not isinstance(item, dict) or _DIRECTIVE not in item:
            remaining.append(item)
            continue
        directive = item[_DIRECTIVE]
        _check_list_item_directive(directive, item, path=at)
        if directive == _REPLACE:
            replace = True  # keep scanning: the other directive items still apply or are dropped
            continue
        if merge_key not in item:
            raise _format_error(f"map: {_show(item)} does not contain declared merge key: {merge_key}", path=at)
        doomed = _scalar_key(item[merge_key], path=at, what=f"merge key {merge_key!r}")
        position = 0
        while position < length:
            candidate = backing[position]
            if (
                isinstance(candidate, dict)
                and merge_key in candidate
                and _scalar_key(candidate[merge_key], path=path, what=f"merge key {merge_key!r}") == doomed
            ):
                backing[position : length - 1] = backing[position + 1 : length]
                length -= 1
            else:
                position += 1
    return length, remaining, replace


def _merge_list_items(
    original: list[JSON], patch: list[JSON], meta: FieldMeta, *, merge_key: str, path: str
) -> tuple[list[JSON], list[JSON]]:
    """Upstream mergeSliceWithoutSpecialElements: merge each patch item into the original item with
    the same merge key value, or append it. Returns (merged list, the appended items)."""
    merged = list(original)
    appended: list[JSON] = []
    for index, item in enumerate(patch):
        at = f"{path}[{index}]"
        if not isinstance(item, dict):
            raise _format_error(f"list item {_show(item)} is not an object", path=at)
        if merge_key not in item:
            raise _format_error(f"map: {_show(item)} does not contain declared merge key: {merge_key}", path=at)
        wanted = _scalar_key(item[merge_key], path=at, what=f"merge key {merge_key!r}")
        for position, candidate in enumerate(merged):
            if not isinstance(candidate, dict):
                raise _format_error(f"value for key {position} is not a map: {_show(candidate)}", path=path)
            if merge_key in candidate and (
                _scalar_key(candidate[merge_key], path=path, what=f"merge key {merge_key!r}") == wanted
            ):
                merged[position] = _merge_map(candidate, item, meta.schema, path=at)
                break
        else:
            cleaned = _clean_map(item, path=at)
            if cleaned is not None:
                merged.append(cleaned)
                appended.append(cleaned)
    return merged, appended


def _check_set_order_matches(patch_list: list[JSON], order: list[JSON], *, merge_key: str | None, path: str) -> None:
    """Upstream validatePatchWithSetOrderList: the patch list's items (deletions aside) must appear
    in ``$setElementOrder`` in the same relative order."""
    if not order or not patch_list:
        return
    items = patch_list
    if merge_key is not None:
        _require_merge_keys(
            [i for i in patch_list if not (isinstance(i, dict) and _DIRECTIVE in i)], merge_key, path=path
        )
        items = [i for i in patch_list if not (isinstance(i, dict) and i.get(_DIRECTIVE) == _DELETE)]
    identity = _Order([], merge_key=merge_key, path=path).identity
    patch_index = order_index = 0
    while patch_index < len(items) and order_index < len(order):
        item = items[patch_index]
        if isinstance(item, dict) and _DIRECTIVE in item:
            patch_index += 1
            continue
        if merge_key is not None and not (isinstance(order[order_index], dict) and merge_key in order[order_index]):
            raise _format_error(
                f"map: {_show(order[order_index])} does not contain declared merge key: {merge_key}",
                path=f"{path}[{order_index}]",
            )
        if identity(item) == identity(order[order_index]):
            patch_index += 1
        order_index += 1
    if patch_index < len(items):
        raise _format_error(
            f"invalid patch format of setElementOrder list: the order in patch list {_show(patch_list)} "
            f"doesn't match {_SET_ORDER} list {_show(order)}",
            path=path,
            status=HTTP_BAD_REQUEST,
        )


def _merge_ordered_lists(
    original: dict[str, JSON], patch: dict[str, JSON], schema: MergeSchema | None, *, path: str
) -> None:
    """Upstream mergePatchIntoOriginal: merge every list named by a ``$setElementOrder/<field>``
    directive together with its patch list, then order it: ``$setElementOrder`` first, the live
    list for items it does not mention. The handled keys are removed from ``patch``."""
    for directive_key in [k for k in patch if k.startswith(_SET_ORDER)]:
        order = patch.pop(directive_key)
        key = _check_list_directive(directive_key, order, path=path)
        at = _field_path(path, key)
        original_list = original.get(key)
        patch_list = patch.get(key)
        found_original = original_list is not None
        found_patch = key in patch
        if found_original and not isinstance(original_list, list):
            raise _format_error(
                f"{directive_key} orders a list, but the object's {key!r} is a {_kind(original_list)}",
                path=at,
            )
        if found_patch and not isinstance(patch_list, list):
            raise _format_error(
                f"{directive_key} orders a list, but the patch sets {key!r} to a {_kind(patch_list)}", path=at
            )
        meta = _field_meta(schema, key)
        merge_key = meta.merge_key
        live: list[JSON] = original_list if isinstance(original_list, list) else []
        patched: list[JSON] = patch_list if isinstance(patch_list, list) else []
        kind = _element_kind(live, patched, path=at)
        if kind == "object" and merge_key is None:
            raise _format_error(
                f"{directive_key} cannot order a list of objects without a merge key (the schema "
                "declares none for this field)",
                path=at,
            )
        _check_set_order_matches(patched, order, merge_key=merge_key, path=at)

        live_order = live
        if found_original and not found_patch:
            merged = live
        elif found_patch and not found_original:
            merged = _clean_list(patched, path=at)
        elif found_patch:
            if meta.merges:
                merged, live_order = _merge_list(live, patched, meta, is_delete_list=False, path=at)
            else:
                merged = _clean_list(patched, path=at)
        else:
            continue
        patch.pop(key, None)

        if kind is None:  # nothing to order
            original[key] = merged
            continue
        key_for_kind = merge_key if kind == "object" else None
        inside, outside = _partition(merged, order, merge_key=key_for_kind, path=at)
        original[key] = _normalize_element_order(inside, outside, order, live_order, merge_key=key_for_kind, path=at)


def apply_strategic_merge_patch(
    original: Mapping[str, JSON], patch: Mapping[str, JSON], schema: MergeSchema
) -> dict[str, JSON]:
    """Apply a Kubernetes strategic merge patch to ``original`` and return the new object.

    Maps merge recursively and ``null`` deletes. A list whose field has patch strategy ``merge``
    merges: objects by the field's merge key (patch items update or join the live items, in patch
    order), primitives as a set. Any other list is replaced. Directives: ``$patch: replace|delete``
    in maps, ``$patch: replace`` and ``{<mergeKey>: v, $patch: delete}`` items in merged lists,
    ``$setElementOrder/<list>``, ``$deleteFromPrimitiveList/<list>`` and ``$retainKeys``. Fields the
    schema does not know get JSON merge patch semantics. Neither argument is modified; errors raise
    :class:`PatchError`.
    """
    if not isinstance(original, Mapping):
        raise PatchError(
            f"invalid JSON document: the object to patch must be a JSON object, got {_kind(original)}",
            status=HTTP_BAD_REQUEST,
        )
    if not isinstance(patch, Mapping):
        raise PatchError(
            f"invalid JSON document: a strategic merge patch must be a JSON object, got {_kind(patch)}",
            status=HTTP_BAD_REQUEST,
        )
    with _nesting_guard():
        return _merge_map(_copy(dict(original)), _copy(dict(patch)), schema, path="")


__all__ = [
    "HTTP_BAD_REQUEST",
    "HTTP_REQUEST_ENTITY_TOO_LARGE",
    "HTTP_UNPROCESSABLE_ENTITY",
    "JSON",
    "JSON_PATCH_OPERATIONS",
    "MAX_JSON_PATCH_COPY_BYTES",
    "MAX_JSON_PATCH_OPERATIONS",
    "PATCH_STRATEGIES",
    "STRATEGY_MERGE",
    "STRATEGY_REPLACE",
    "STRATEGY_RETAIN_KEYS",
    "DictMergeSchema",
    "FieldMeta",
    "MergeSchema",
    "PatchError",
    "apply_json_patch",
    "apply_merge_patch",
    "apply_strategic_merge_patch",
    "json_equal",
]
