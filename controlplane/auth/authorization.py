"""Authorization: may this user do this verb on this resource? Request attributes and the union.

Design
------
``request_attributes`` is upstream's ``RequestInfoFactory``: from the method, the path and the query
alone (no resource table) it tells a resource request (``verb``, ``apiGroup``, ``namespace``,
``resource``, ``subresource``, ``name``) from a non-resource one (``/healthz``, ``/api``, a path
and a lower-case HTTP verb). Authorizers see only these ``Attributes``, never a request.

``Authorizers`` is upstream's union: ``system:masters`` is allowed everything first (the privileged
group authorizer), then each authorizer in order (Node, then RBAC) may Allow, Deny or have no
opinion; no opinion from all of them is a denial. ``forbidden`` builds the 403 ``Status`` with
upstream's exact wording, which kubectl prints verbatim.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from kubelite.controlplane.auth.authentication import MASTERS, UserInfo

READ_ONLY_VERBS: Final = frozenset({"get", "list", "watch"})
# subresources upgraded to streams: a GET is still "create" (upstream's
# AuthorizePodWebsocketUpgradeCreatePermission, on by default since 1.30)
STREAM_SUBRESOURCES: Final = frozenset({"exec", "attach", "portforward"})
NAMESPACE_SUBRESOURCES: Final = frozenset({"status", "finalize"})


class Decision(enum.Enum):
    ALLOW = "allow"
    DENY = "deny"
    NO_OPINION = "no-opinion"


@dataclass(frozen=True, init=False)
class Attributes:
    user: UserInfo
    verb: str
    resource_request: bool
    path: str = ""
    api_group: str = ""
    api_version: str = ""
    namespace: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""

    def __init__(self, user: UserInfo, verb: str, resource_request: bool, path: str = "", api_group: str = "",
                 api_version: str = "", namespace: str = "", resource: str = "", subresource: str = "",
                 name: str = "") -> None:
        # the generated __init__ of a frozen dataclass sets each field through object.__setattr__; one update
        # of the instance dict does the same in a third of the time (every request builds one of these)
        self.__dict__.update(user=user, verb=verb, resource_request=resource_request, path=path,
                             api_group=api_group, api_version=api_version, namespace=namespace,
                             resource=resource, subresource=subresource, name=name)

    def describe(self) -> str:
        """The end of upstream's forbidden message: what the user cannot do."""
        if not self.resource_request:
            return f'User "{self.user.name}" cannot {self.verb} path "{self.path}"'
        resource = f"{self.resource}/{self.subresource}" if self.subresource else self.resource
        where = f'in the namespace "{self.namespace}"' if self.namespace else "at the cluster scope"
        return (f'User "{self.user.name}" cannot {self.verb} resource "{resource}" in API group '
                f'"{self.api_group}" {where}')


_VERBS: Final = {"POST": "create", "GET": "get", "HEAD": "get", "PUT": "update", "PATCH": "patch",
                 "DELETE": "delete"}


def request_attributes(user: UserInfo, method: str, path: str, query: Mapping[str, str]) -> Attributes:
    """Upstream's request info: which resource a request is about, and with which verb."""
    parts = path.strip("/").split("/")
    if "" in parts:  # empty segments ("//", or the path "/" itself) are skipped
        parts = [p for p in parts if p]
    method = method.upper()
    if len(parts) >= 2 and parts[0] == "api":
        group, rest = "", parts[1:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, rest = parts[1], parts[2:]
    else:
        return Attributes(user, method.lower(), False, path=path)
    version, rest = rest[0], rest[1:]
    if not rest:  # /api/v1 and /apis/g/v are discovery: non-resource
        return Attributes(user, method.lower(), False, path=path)
    verb = _VERBS.get(method) or method.lower()
    if rest[0] == "watch":
        verb, rest = "watch", rest[1:]
    namespace = ""
    if rest and rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    resource = rest[0] if rest else ""
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    if not name:
        if verb == "get":
            verb = "watch" if query.get("watch", "").lower() in ("true", "1") else "list"
        elif verb == "delete":
            verb = "deletecollection"
    elif verb == "watch":
        pass
    elif verb == "get" and query.get("watch", "").lower() in ("true", "1"):
        verb = "watch"
    if verb == "get" and subresource in STREAM_SUBRESOURCES:
        verb = "create"
    if verb in ("list", "watch") and not name:
        # a list or watch of one object by field selector is about that name (upstream does the same)
        selector = query.get("fieldSelector", "")
        for term in selector.split(","):
            key, op, value = term.partition("=")
            if op and key.strip() == "metadata.name" and not value.startswith("="):
                name = value.strip()
    return Attributes(user, verb, True, path=path, api_group=group, api_version=version, namespace=namespace,
                      resource=resource, subresource=subresource, name=name)


class Authorizer(Protocol):
    def authorize(self, attributes: Attributes) -> tuple[Decision, str]:
        """(decision, reason); the reason is appended to a forbidden message when not empty."""
        ...

    def rules_for(self, user: UserInfo, namespace: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(resource rules, non-resource rules) the user has in ``namespace``, for SelfSubjectRulesReview."""
        ...


class Authorizers:
    """The union: masters bypass, then each authorizer until one decides."""

    def __init__(self, authorizers: Sequence[Authorizer]) -> None:
        self.authorizers = list(authorizers)

    def authorize(self, attributes: Attributes) -> tuple[Decision, str]:
        if MASTERS in attributes.user.groups:
            return Decision.ALLOW, ""
        reasons: list[str] = []
        for authorizer in self.authorizers:
            decision, reason = authorizer.authorize(attributes)
            if decision is not Decision.NO_OPINION:
                return decision, reason
            if reason:
                reasons.append(reason)
        return Decision.NO_OPINION, "; ".join(reasons)

    def rules_for(self, user: UserInfo, namespace: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        if MASTERS in user.groups:
            return ([{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
                    [{"verbs": ["*"], "nonResourceURLs": ["*"]}])
        resource_rules: list[dict[str, Any]] = []
        non_resource_rules: list[dict[str, Any]] = []
        for authorizer in self.authorizers:
            r, n = authorizer.rules_for(user, namespace)
            resource_rules += r
            non_resource_rules += n
        return resource_rules, non_resource_rules


def forbidden_message(attributes: Attributes, reason: str = "") -> str:
    """Upstream's NewForbidden wording around ``Attributes.describe``."""
    why = attributes.describe() + (f": {reason}" if reason else "")
    if not attributes.resource_request or not attributes.resource:
        return f"forbidden: {why}"
    group_resource = f"{attributes.resource}.{attributes.api_group}" if attributes.api_group \
        else attributes.resource
    if attributes.name:
        return f'{group_resource} "{attributes.name}" is forbidden: {why}'
    return f"{group_resource} is forbidden: {why}"


def forbidden_status(attributes: Attributes, reason: str = "") -> dict[str, Any]:
    """The 403 Status body."""
    details: dict[str, Any] = {}
    if attributes.resource_request and attributes.resource:
        if attributes.name:
            details["name"] = attributes.name
        if attributes.api_group:
            details["group"] = attributes.api_group
        details["kind"] = attributes.resource
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                            "message": forbidden_message(attributes, reason), "reason": "Forbidden",
                            "code": 403}
    if details:
        body["details"] = details
    return body
