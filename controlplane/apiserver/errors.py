"""API errors as upstream ``Status`` objects: the same codes, reasons, messages and details.

Handlers raise ``APIError``; the HTTP edge turns it into a JSON ``Status`` body with its code. The
message formats follow k8s.io/apimachinery/pkg/api/errors so that kubectl prints what users know.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class FieldErrorLike(Protocol):
    """What a validation error offers for a Status cause (kubelite.api.validation.FieldError)."""

    @property
    def reason(self) -> str: ...
    @property
    def field(self) -> str: ...
    @property
    def message(self) -> str: ...
    def error(self) -> str: ...


class APIError(Exception):
    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                "message": self.message, "reason": self.reason, "code": self.code}
        if self.details:
            body["details"] = self.details
        return body


def _details(group_resource: str, name: str, **extra: Any) -> dict[str, Any]:
    plural, _, group = group_resource.partition(".")
    details: dict[str, Any] = {"name": name, "kind": plural} if name else {"kind": plural}
    if group:
        details["group"] = group
    details.update(extra)
    return details


def not_found(group_resource: str, name: str) -> APIError:
    return APIError(404, "NotFound", f'{group_resource} "{name}" not found', _details(group_resource, name))


def already_exists(group_resource: str, name: str) -> APIError:
    return APIError(409, "AlreadyExists", f'{group_resource} "{name}" already exists',
                    _details(group_resource, name))


def conflict(group_resource: str, name: str, why: str) -> APIError:
    return APIError(409, "Conflict", f'Operation cannot be fulfilled on {group_resource} "{name}": {why}',
                    _details(group_resource, name))


MODIFIED = "the object has been modified; please apply your changes to the latest version and try again"


def invalid(kind: str, group: str, name: str, errors: Sequence[FieldErrorLike]) -> APIError:
    """422 with field causes; message as upstream NewInvalid: one error plain, several in brackets."""
    texts = [e.error() for e in errors]
    joined = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    details: dict[str, Any] = {"name": name, "kind": kind,
                               "causes": [{"reason": e.reason, "message": e.message, "field": e.field}
                                          for e in errors]}
    if group:
        details["group"] = group
    return APIError(422, "Invalid", f'{kind}.{group} "{name}" is invalid: {joined}' if group
                    else f'{kind} "{name}" is invalid: {joined}', details)


def bad_request(message: str) -> APIError:
    return APIError(400, "BadRequest", message)


def forbidden(group_resource: str, name: str, why: str) -> APIError:
    target = f'{group_resource} "{name}"' if name else group_resource
    return APIError(403, "Forbidden", f"{target} is forbidden: {why}", _details(group_resource, name))


def unauthorized() -> APIError:
    return APIError(401, "Unauthorized", "Unauthorized")


def method_not_allowed(message: str) -> APIError:
    return APIError(405, "MethodNotAllowed", message)


def not_acceptable(message: str) -> APIError:
    return APIError(406, "NotAcceptable", message)


def unsupported_media_type(content_type: str) -> APIError:
    return APIError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format - "
                    f"accepted media types include: application/json, application/yaml, "
                    f"application/vnd.kubernetes.protobuf, "
                    f"application/json-patch+json, application/merge-patch+json, "
                    f"application/strategic-merge-patch+json (got {content_type!r})")


def too_large(limit: int) -> APIError:
    return APIError(413, "RequestEntityTooLarge", f"Request entity too large: limit is {limit}")


def expired(message: str) -> APIError:
    return APIError(410, "Expired", message)


def resource_gone(requested: int, oldest: int) -> APIError:
    return APIError(410, "Expired", f"too old resource version: {requested} ({oldest})")


def path_not_found(path: str) -> APIError:
    return APIError(404, "NotFound", "the server could not find the requested resource",
                    {"causes": [{"reason": "UnexpectedServerResponse", "message": f"404 page not found: {path}"}]})


def internal(message: str) -> APIError:
    return APIError(500, "InternalError", f"Internal error occurred: {message}")


def service_unavailable(message: str) -> APIError:
    return APIError(503, "ServiceUnavailable", message)


def success_status(group_resource: str, name: str, uid: str) -> dict[str, Any]:
    """The Status a delete returns when the object is gone immediately (upstream for some kinds)."""
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": _details(group_resource, name, uid=uid)}
