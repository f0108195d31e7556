"""Server-side apply and ``metadata.managedFields``: the public API.

``kubectl apply --server-side`` sends ``PATCH`` with ``Content-Type: application/apply-patch+yaml``
and ``fieldManager=kubectl`` (``force=true`` with ``--force-conflicts``); the API server answers with
:func:`apply`. Every other write (create, update, JSON/merge/strategic patch) records who changed
what with :func:`update`. Both are pure functions of JSON objects, a schema (:class:`TypeInfo`) and
the current time; the HTTP layer decodes the request, calls them, and then defaults, admits,
validates and stores the result as for any write.

Semantics are upstream's, ported from sigs.k8s.io/structured-merge-diff (field paths, typed merge,
ownership) and k8s.io/apimachinery ``pkg/util/managedfields/internal`` (the API server's chain of
field managers); the package :mod:`kubelite.api.ssa` holds the port, module by module, with the
deliberate differences listed in :mod:`kubelite.api.ssa.fieldmanager`. In short:

* Each manager owns a set of fields (:class:`FieldSet`, serialized as FieldsV1). An apply owns
  exactly what its configuration sets; an update takes over whatever it changed.
* Applying a value to a field another manager owns fails with :class:`ApplyConflict` (409) whose
  text is upstream's (``Apply failed with 1 conflict: conflict with "kubectl-client-side-apply"
  using apps/v1: .spec.replicas``), unless ``force`` moves the ownership.
* Fields an applier owned and no longer sets are removed, unless another manager still owns them.
* Lists merge according to the schema: atomic lists are replaced, sets merge by value, map lists
  (``containers`` by ``name``) merge item by item; maps are granular unless declared atomic.
* apiVersion, kind and identifying metadata are never owned; nor is ``status`` through the main
  resource or ``spec`` through ``/status`` (:func:`default_reset_fields`).
* At most 10 update entries are kept; the oldest merge into ``ancient-changes``. Objects whose fields
  were never tracked are tracked from their first apply (``before-first-apply``). Managed fields sent
  with a write replace the stored ones when they decode, ``[]`` resets them, and anything invalid is
  ignored in favour of the stored ones.
* ``kubectl`` taking over an object from client-side apply (the
  ``kubectl.kubernetes.io/last-applied-configuration`` annotation) gets no conflicts for the fields
  it set before, and keeps the annotation in sync.
"""

from __future__ import annotations

from kubelite.api.ssa.fieldmanager import (
    ANCIENT_CHANGES_MANAGER,
    BEFORE_FIRST_APPLY_MANAGER,
    DEFAULT_MAX_UPDATE_MANAGERS,
    LAST_APPLIED_ANNOTATION,
    STRIPPED_FIELDS,
    ApplyConflict,
    ApplyError,
    Conflict,
    Managed,
    ManagedFieldsDecodeError,
    ManagedFieldsError,
    apply,
    decode_managed_fields,
    default_field_manager,
    default_reset_fields,
    encode_managed_fields,
    manager_identifier,
    update,
)
from kubelite.api.ssa.fieldpath import (
    JSON,
    FieldSet,
    FieldsV1Error,
    Path,
    PathElement,
    PathElementKind,
    field_set_from_fieldsv1,
    fieldsv1_from_field_set,
    make_path,
    path_string,
)
from kubelite.api.ssa.schema import (
    CRDTypeInfo,
    ListKind,
    OpenAPITypeInfo,
    TypeInfo,
    UnknownKindError,
    deduced_type_info,
    type_info_for_definition,
    type_info_for_kind,
    type_info_from_crd_schema,
)
from kubelite.api.ssa.typed import SchemaError, SchemaIssue, check, field_set

__all__ = [
    "ANCIENT_CHANGES_MANAGER",
    "BEFORE_FIRST_APPLY_MANAGER",
    "DEFAULT_MAX_UPDATE_MANAGERS",
    "LAST_APPLIED_ANNOTATION",
    "STRIPPED_FIELDS",
    "ApplyConflict",
    "ApplyError",
    "CRDTypeInfo",
    "Conflict",
    "FieldSet",
    "FieldsV1Error",
    "ListKind",
    "Managed",
    "ManagedFieldsDecodeError",
    "ManagedFieldsError",
    "OpenAPITypeInfo",
    "Path",
    "PathElement",
    "PathElementKind",
    "SchemaError",
    "SchemaIssue",
    "TypeInfo",
    "UnknownKindError",
    "apply",
    "decode_managed_fields",
    "deduced_type_info",
    "default_field_manager",
    "default_reset_fields",
    "encode_managed_fields",
    "field_set_from_fieldsv1",
    "field_set_of",
    "fieldsv1_from_field_set",
    "make_path",
    "manager_identifier",
    "path_string",
    "strip_never_owned",
    "type_info_for_definition",
    "type_info_for_kind",
    "type_info_from_crd_schema",
    "update",
]


def field_set_of(obj: JSON, type_info: TypeInfo) -> FieldSet:
    """The fields ``obj`` sets (upstream ``TypedValue.ToFieldSet``), after checking it fits its schema.

    Raises :class:`SchemaError` (upstream's messages, e.g. ``.spec.foo: field not declared in
    schema``). Repeated items of associative lists are tolerated, as they are in stored objects.
    """
    check(type_info, obj, allow_duplicates=True)
    return field_set(type_info, obj)


def strip_never_owned(fields: FieldSet) -> FieldSet:
    """``fields`` without apiVersion, kind and the identifying metadata nobody owns (``stripMetaManager``)."""
    return fields.difference(STRIPPED_FIELDS)
