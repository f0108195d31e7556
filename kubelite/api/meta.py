"""Object metadata helpers shared by server and clients: timestamps, uids, accessors.

Objects travel as plain JSON dicts here; these helpers read and stamp ``metadata`` the way upstream's
meta accessors do (RFC 3339 timestamps with second precision in UTC, "Z" suffix).
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from typing import Any, Final

Obj = dict[str, Any]


_RFC3339: Final = "%Y-%m-%dT%H:%M:%SZ"
# (a whole second since the epoch, its rfc3339 text): "now" is asked for by every write, and formatting
# a datetime costs several microseconds; within one second the answer is the same
_last_second: tuple[int, str] = (-1, "")


def rfc3339(moment: datetime | None = None) -> str:
    """Upstream metav1.Time wire format: second precision, UTC, 'Z'."""
    if moment is None:
        # time.time() reads the clock datetime.now() reads; int() floors as its microsecond cut does
        return rfc3339_second(int(time.time()))
    return moment.astimezone(UTC).strftime(_RFC3339)


def rfc3339_second(second: int) -> str:
    """``rfc3339`` of the whole second ``second`` since the epoch (UTC); the last second asked is
    remembered, as writers and event recorders ask for the current one many times a second."""
    global _last_second
    last = _last_second
    if last[0] == second:
        return last[1]
    text = time.strftime(_RFC3339, time.gmtime(second))
    _last_second = (second, text)
    return text


def rfc3339_micro(moment: datetime | None = None) -> str:
    """metav1.MicroTime wire format (Leases, events.k8s.io eventTime)."""
    moment = moment or datetime.now(UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# new_uid's randomness is read from the OS in blocks: os.urandom releases the GIL for its system call, and
# in a server with busy threads (the SQLite writer) a release on every create handed the GIL away and made
# the event loop wait for it back (~0.1 ms per create, against ~1 us for the call itself)
_UID_BLOCK: Final = 4096
_uid_random = b""
_uid_offset = _UID_BLOCK


def _forget_uid_random() -> None:
    """A forked child must not hand out the UIDs its parent's block still holds."""
    global _uid_random, _uid_offset
    _uid_random, _uid_offset = b"", _UID_BLOCK


os.register_at_fork(after_in_child=_forget_uid_random)


def new_uid() -> str:
    """A random (version 4) UUID, as ``str(uuid.uuid4())`` writes it (os.urandom's bytes, read in blocks)."""
    global _uid_random, _uid_offset
    offset = _uid_offset
    if offset + 16 > len(_uid_random):
        _uid_random, offset = os.urandom(_UID_BLOCK), 0
    _uid_offset = offset + 16
    return uid_text(_uid_random[offset:offset + 16])


def uid_text(random16: bytes) -> str:
    """``str(uuid.UUID(bytes=random16, version=4))`` without building the UUID object (a third of the
    time, on every create): the version and variant bits set, then 8-4-4-4-12 lower-case hex."""
    raw = bytearray(random16)
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def meta(obj: Obj) -> Obj:
    """obj['metadata'], created when absent (a dict a handler may mutate)."""
    value = obj.get("metadata")
    if not isinstance(value, dict):
        value = {}
        obj["metadata"] = value
    return value


def name_of(obj: Obj) -> str:
    value = (obj.get("metadata") or {}).get("name")
    return value if isinstance(value, str) else ""


def namespace_of(obj: Obj) -> str:
    value = (obj.get("metadata") or {}).get("namespace")
    return value if isinstance(value, str) else ""


def labels_of(obj: Obj) -> dict[str, str]:
    value = (obj.get("metadata") or {}).get("labels")
    return value if isinstance(value, dict) else {}


def resource_version_of(obj: Obj) -> str:
    value = (obj.get("metadata") or {}).get("resourceVersion")
    return value if isinstance(value, str) else ""


def spec_part(obj: Obj) -> Obj:
    """Everything but metadata and status: what a generation counts changes of."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}
