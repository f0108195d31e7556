"""Object metadata helpers shared by server and clients: timestamps, uids, accessors.

Objects travel as plain JSON dicts here; these helpers read and stamp ``metadata`` the way upstream's
meta accessors do (RFC 3339 timestamps with second precision in UTC, "Z" suffix).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

Obj = dict[str, Any]


def rfc3339(moment: datetime | None = None) -> str:
    """Upstream metav1.Time wire format: second precision, UTC, 'Z'."""
    moment = moment or datetime.now(UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339_micro(moment: datetime | None = None) -> str:
    """metav1.MicroTime wire format (Leases, events.k8s.io eventTime)."""
    moment = moment or datetime.now(UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def new_uid() -> str:
    return str(uuid.uuid4())


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
