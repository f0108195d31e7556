"""Kubernetes's protobuf wire format (``application/vnd.kubernetes.protobuf``) for kubelite's JSON objects.

* :mod:`.codec`: :func:`decode` (prefixed body -> JSON dict), :func:`encode` (the reverse), the watch
  stream frames (:func:`encode_watch_event`, :func:`decode_watch_event`, :func:`split_watch_frames`)
  and :func:`supports` (whether a kind has a protobuf form); its docstring states the JSON rules;
* :mod:`.schema`: the messages of the Kubernetes 1.32 API, from ``schema.json.gz`` (written by
  ``tools/extract_proto.py`` from upstream's ``generated.proto`` files and Go struct tags);
* :mod:`.wellknown`: Go's JSON forms of ``metav1.Time``, ``MicroTime`` and ``Duration``;
* :mod:`.wire`: varints, tags and fields.
"""

from kubelite.api.protobuf.codec import (
    CONTENT_TYPE,
    MAGIC,
    WATCH_CONTENT_TYPE,
    decode,
    decode_message,
    decode_watch_event,
    encode,
    encode_message,
    encode_watch_event,
    split_watch_frames,
    supports,
)
from kubelite.api.protobuf.schema import SchemaDataError
from kubelite.api.protobuf.wire import ProtobufError

__all__ = [
    "CONTENT_TYPE",
    "MAGIC",
    "WATCH_CONTENT_TYPE",
    "ProtobufError",
    "SchemaDataError",
    "decode",
    "decode_message",
    "decode_watch_event",
    "encode",
    "encode_message",
    "encode_watch_event",
    "split_watch_frames",
    "supports",
]
