"""Key and argument checks shared by the backends, and prefix -> key-range arithmetic.

Design
------
Both backends must accept and refuse exactly the same inputs, so the checks live here, once.
A prefix is served as the half-open key range ``[prefix, prefix_end)``: ``prefix_end`` is the
smallest string greater than every string starting with ``prefix``. SQLite compares TEXT as UTF-8
bytes and etcd compares raw bytes; UTF-8 byte order equals code-point order, which is also Python's
``str`` order, so one range computed on ``str`` (or on its UTF-8 bytes for etcd) selects the same keys
everywhere.
"""

from __future__ import annotations

from kubelite.controlplane.storage.interface import MAX_VALUE_BYTES, ValueTooLargeError

_MAX_CODE_POINT = 0x10FFFF
_SURROGATES = range(0xD800, 0xE000)


def check_key(key: str) -> None:
    """Raise ``ValueError`` unless ``key`` is a well-formed storage key (``/`` first, valid UTF-8)."""
    if not isinstance(key, str):
        raise ValueError(f"storage key must be a str, got {type(key).__name__}")
    if not key.startswith("/") or key == "/":
        raise ValueError(f"storage key {key!r} must start with '/' and name something, e.g. '/pods/ns/name'")
    _check_text(key, what="storage key")


def check_prefix(prefix: str) -> None:
    """Raise ``ValueError`` unless ``prefix`` is a key prefix (``/`` alone selects every key)."""
    if not isinstance(prefix, str):
        raise ValueError(f"storage prefix must be a str, got {type(prefix).__name__}")
    if not prefix.startswith("/"):
        raise ValueError(f"storage prefix {prefix!r} must start with '/', e.g. '/pods/' ('/' selects all)")
    _check_text(prefix, what="storage prefix")


def check_start_key(start_key: str) -> None:
    """Like a key, but a trailing NUL is allowed: ``last_key + "\\x00"`` is the usual "continue after
    ``last_key``" bound (kube-apiserver builds its continue tokens that way)."""
    if not isinstance(start_key, str):
        raise ValueError(f"start_key must be a str, got {type(start_key).__name__}")
    bound = start_key.rstrip("\x00")
    if not bound.startswith("/"):
        raise ValueError(f"start_key {start_key!r} must start with '/', e.g. '/pods/ns/a' or '/pods/ns/a\\x00'")
    _check_text(bound, what="start_key")


def check_value(key: str, value: bytes) -> None:
    if not isinstance(value, bytes):
        raise ValueError(f"value for key {key!r} must be bytes, got {type(value).__name__}")
    if len(value) > MAX_VALUE_BYTES:
        raise ValueTooLargeError(key, len(value))


def check_revision(revision: int, *, what: str) -> None:
    if isinstance(revision, bool) or not isinstance(revision, int) or revision < 0:
        raise ValueError(f"{what} must be an integer >= 0, got {revision!r}")


def check_ttl(ttl_seconds: int | None) -> None:
    if ttl_seconds is None:
        return
    if isinstance(ttl_seconds, bool) or not isinstance(ttl_seconds, int) or ttl_seconds <= 0:
        raise ValueError(f"ttl_seconds must be a positive integer or None, got {ttl_seconds!r}")


def check_expected_revision(key: str, expected_revision: int) -> None:
    # 0 would mean "the key does not exist", which is create(), not update()/delete().
    valid = isinstance(expected_revision, int) and not isinstance(expected_revision, bool)
    if not valid or expected_revision <= 0:
        raise ValueError(
            f"expected_revision for key {key!r} must be a positive mod_revision, got {expected_revision!r}"
        )


def _check_text(text: str, *, what: str) -> None:
    if "\x00" in text:
        raise ValueError(f"{what} {text!r} must not contain NUL characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"{what} {text!r} is not valid Unicode text: {exc.reason}") from None


def prefix_end(prefix: str) -> str | None:
    """The exclusive upper bound of the keys starting with ``prefix``; ``None`` means unbounded.

    >>> prefix_end("/pods/")
    '/pods0'
    """
    chars = list(prefix)
    while chars:
        last = ord(chars[-1])
        if last < _MAX_CODE_POINT:
            nxt = last + 1
            if nxt in _SURROGATES:
                # Surrogates cannot be encoded; the next encodable code point keeps the order.
                nxt = _SURROGATES.stop
            chars[-1] = chr(nxt)
            return "".join(chars)
        # U+10FFFF cannot be incremented: the bound is the increment of the shorter prefix.
        chars.pop()
    return None


def prefix_end_bytes(prefix: bytes) -> bytes:
    """etcd's ``range_end`` for a byte prefix; ``b"\\x00"`` (etcd's "to the end") when unbounded."""
    buf = bytearray(prefix)
    while buf:
        if buf[-1] < 0xFF:
            buf[-1] += 1
            return bytes(buf)
        buf.pop()
    return b"\x00"


def key_range(prefix: str, start_key: str | None = None) -> tuple[str, str | None]:
    """The half-open range ``[low, high)`` of keys under ``prefix`` that are ``>= start_key``."""
    low = prefix if start_key is None or start_key < prefix else start_key
    return low, prefix_end(prefix)
