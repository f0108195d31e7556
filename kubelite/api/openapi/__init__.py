"""Kubernetes 1.32's published OpenAPI schemas: documents, kinds, merge metadata, unknown fields.

The data (``definitions.json.gz``, written by ``tools/extract_openapi.py``) is upstream's OpenAPI v2
``api/openapi-spec/swagger.json`` of kubernetes/kubernetes ``release-1.32`` (as vendored by
kubernetes-client/python ``v32.0.1``, ``kubernetes/swagger.json.unprocessed``), cut down to the kinds
kubelite serves and what they reference, plus the v3-only ``default``/``oneOf`` facts from
``api/openapi-spec/v3`` of the same release (as vendored by kubernetes-sigs/kubectl-validate,
``pkg/openapiclient/builtins/1.32``). See :mod:`kubelite.api.openapi.definitions` for details.

* :mod:`.definitions` loads the data once and answers lookups (``definitions``, ``definition_for``,
  ``kinds``);
* :mod:`.documents` builds ``/openapi/v2`` and ``/openapi/v3/<group-version>`` around the paths
  the API server supplies;
* :mod:`.merge` gives the strategic-merge-patch metadata of every field;
* :mod:`.field_validation` finds unknown fields for ``fieldValidation=Strict|Warn``.
"""

from kubelite.api.openapi.definitions import (
    KindInfo,
    OpenAPIDataError,
    UnknownDefinitionError,
    definition_for,
    definitions,
    kinds,
    kubernetes_version,
)
from kubelite.api.openapi.documents import (
    InvalidGroupVersionError,
    openapi_v2,
    openapi_v3,
    parse_group_version,
    schema_v3,
    to_v3_schema,
)
from kubelite.api.openapi.field_validation import (
    strict_decoding_error,
    unknown_field_message,
    unknown_fields,
)
from kubelite.api.openapi.merge import FieldMeta, MergeSchema, merge_schema_for

__all__ = [
    "FieldMeta",
    "InvalidGroupVersionError",
    "KindInfo",
    "MergeSchema",
    "OpenAPIDataError",
    "UnknownDefinitionError",
    "definition_for",
    "definitions",
    "kinds",
    "kubernetes_version",
    "merge_schema_for",
    "openapi_v2",
    "openapi_v3",
    "parse_group_version",
    "schema_v3",
    "strict_decoding_error",
    "to_v3_schema",
    "unknown_field_message",
    "unknown_fields",
]
