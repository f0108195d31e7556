"""Server-side apply internals; import the public API from :mod:`kubelite.api.managed_fields`.

* :mod:`.fieldpath` -- path elements, field sets and their FieldsV1 wire form
  (sigs.k8s.io/structured-merge-diff ``fieldpath``);
* :mod:`.schema` -- the :class:`~.schema.TypeInfo` protocol and its implementations from the packaged
  OpenAPI definitions and from CRD structural schemas (kube-openapi ``schemaconv``);
* :mod:`.typed` -- schema-aware walks over JSON objects: validation, field sets, merge, compare,
  removal (structured-merge-diff ``typed``);
* :mod:`.merge` -- ownership bookkeeping of apply and update (structured-merge-diff ``merge``);
* :mod:`.fieldmanager` -- ``metadata.managedFields`` encoding and the API server's chain of field
  managers (k8s.io/apimachinery ``pkg/util/managedfields/internal``).
"""
