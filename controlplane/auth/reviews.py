"""The review APIs: ask the server who you are and what you (or someone) may do.

Design
------
These are upstream's create-only, never-stored kinds, answered from the authenticator and the
authorizer and returned with ``status`` filled in:

* ``authentication.k8s.io/v1`` ``SelfSubjectReview`` (``kubectl auth whoami``) and ``TokenReview``;
* ``authorization.k8s.io/v1`` ``SelfSubjectAccessReview`` (``kubectl auth can-i``),
  ``SubjectAccessReview`` (kubelets and webhooks ask about others), ``LocalSubjectAccessReview``
  (the same, in a namespace) and ``SelfSubjectRulesReview`` (``kubectl auth can-i --list``).

Bodies are validated as upstream does (``spec.resourceAttributes`` xor ``spec.nonResourceAttributes``,
a user or group for a SubjectAccessReview); a bad body is a 400/422 ``ReviewError``.
"""

from __future__ import annotations

from typing import Any, Final

from kubelite.controlplane.auth.authentication import AuthenticationError, Authenticator, UserInfo
from kubelite.controlplane.auth.authorization import Attributes, Authorizers, Decision

Obj = dict[str, Any]

AUTHENTICATION: Final = "authentication.k8s.io"
AUTHORIZATION: Final = "authorization.k8s.io"
REVIEW_RESOURCES: Final = frozenset({
    (AUTHENTICATION, "selfsubjectreviews"), (AUTHENTICATION, "tokenreviews"),
    (AUTHORIZATION, "selfsubjectaccessreviews"), (AUTHORIZATION, "subjectaccessreviews"),
    (AUTHORIZATION, "localsubjectaccessreviews"), (AUTHORIZATION, "selfsubjectrulesreviews"),
})
KINDS: Final = {
    "selfsubjectreviews": "SelfSubjectReview", "tokenreviews": "TokenReview",
    "selfsubjectaccessreviews": "SelfSubjectAccessReview", "subjectaccessreviews": "SubjectAccessReview",
    "localsubjectaccessreviews": "LocalSubjectAccessReview", "selfsubjectrulesreviews": "SelfSubjectRulesReview",
}


class ReviewError(ValueError):
    def __init__(self, message: str, *, code: int = 422, kind: str = "", field: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.kind = kind
        self.field = field


def _attributes_from_spec(user: UserInfo, spec: Obj, kind: str, namespace: str | None) -> Attributes:
    resource = spec.get("resourceAttributes")
    non_resource = spec.get("nonResourceAttributes")
    if resource and non_resource:
        raise ReviewError(f'{kind}.{AUTHORIZATION} "" is invalid: spec.nonResourceAttributes: Invalid value: '
                          '"": cannot be specified in combination with resourceAttributes', kind=kind,
                          field="spec.nonResourceAttributes")
    if not resource and not non_resource:
        raise ReviewError(f'{kind}.{AUTHORIZATION} "" is invalid: spec.resourceAttributes: Invalid value: "null":'
                          " exactly one of nonResourceAttributes or resourceAttributes must be specified",
                          kind=kind, field="spec.resourceAttributes")
    if non_resource:
        if not isinstance(non_resource, dict):
            raise ReviewError("spec.nonResourceAttributes must be an object", code=400)
        return Attributes(user, str(non_resource.get("verb") or ""), False, path=str(non_resource.get("path") or ""))
    if not isinstance(resource, dict):
        raise ReviewError("spec.resourceAttributes must be an object", code=400)
    ns = str(resource.get("namespace") or "")
    if namespace is not None:
        if ns and ns != namespace:
            raise ReviewError(f'{kind}.{AUTHORIZATION} "" is invalid: spec.resourceAttributes.namespace: Invalid '
                              f'value: "{ns}": must match metadata.namespace', kind=kind,
                              field="spec.resourceAttributes.namespace")
        ns = namespace
    return Attributes(user, str(resource.get("verb") or ""), True, api_group=str(resource.get("group") or ""),
                      api_version=str(resource.get("version") or ""), namespace=ns,
                      resource=str(resource.get("resource") or ""), subresource=str(resource.get("subresource") or ""),
                      name=str(resource.get("name") or ""))


def _status(decision: Decision, reason: str) -> Obj:
    status: Obj = {"allowed": decision is Decision.ALLOW}
    if decision is Decision.DENY:
        status["denied"] = True
    if decision is Decision.ALLOW:
        reason = reason or "allowed by the kubelite authorizer"
    if reason:
        status["reason"] = reason
    return status


class Reviews:
    def __init__(self, *, authenticator: Authenticator, authorizer: Authorizers) -> None:
        self.authenticator = authenticator
        self.authorizer = authorizer

    async def review(self, *, group: str, resource: str, namespace: str | None, body: Any, user: UserInfo) -> Obj:
        """Answer one review; ``body`` is the decoded request, ``user`` the caller."""
        kind = KINDS[resource]
        if not isinstance(body, dict):
            raise ReviewError(f"the body must be a {group}/v1 {kind}", code=400)
        if body.get("kind") not in (None, kind):
            raise ReviewError(f"the kind in the data ({body.get('kind')}) does not match the expected kind ({kind})",
                              code=400)
        spec = body.get("spec") or {}
        if not isinstance(spec, dict):
            raise ReviewError("spec must be an object", code=400)
        out: Obj = {"kind": kind, "apiVersion": f"{group}/v1",
                    "metadata": {**(body.get("metadata") or {}), "creationTimestamp": None}, "spec": spec}
        if resource == "selfsubjectreviews":
            out["status"] = {"userInfo": user.to_api()}
        elif resource == "tokenreviews":
            out["status"] = await self._token_review(spec)
        elif resource == "selfsubjectaccessreviews":
            out["status"] = _status(*self.authorizer.authorize(_attributes_from_spec(user, spec, kind, None)))
        elif resource in ("subjectaccessreviews", "localsubjectaccessreviews"):
            subject = self._subject(spec, kind)
            attrs = _attributes_from_spec(subject, spec, kind, namespace if resource.startswith("local") else None)
            out["status"] = _status(*self.authorizer.authorize(attrs))
        else:  # selfsubjectrulesreviews
            ns = spec.get("namespace")
            if not isinstance(ns, str) or not ns:
                raise ReviewError(f'{kind}.{AUTHORIZATION} "" is invalid: spec.namespace: Required value: '
                                  "no namespace on request", kind=kind, field="spec.namespace")
            resource_rules, non_resource_rules = self.authorizer.rules_for(user, ns)
            out["status"] = {"resourceRules": resource_rules, "nonResourceRules": non_resource_rules,
                             "incomplete": False}
        return out

    def _subject(self, spec: Obj, kind: str) -> UserInfo:
        name, groups = spec.get("user") or "", spec.get("groups") or []
        if not name and not groups:
            raise ReviewError(f'{kind}.{AUTHORIZATION} "" is invalid: spec.user: Invalid value: "": at least one of '
                              "user or group must be specified", kind=kind, field="spec.user")
        extra = spec.get("extra") or {}
        return UserInfo(str(name), str(spec.get("uid") or ""), tuple(str(g) for g in groups),
                        {str(k): tuple(str(x) for x in v) for k, v in extra.items() if isinstance(v, list)})

    async def _token_review(self, spec: Obj) -> Obj:
        token = spec.get("token")
        if not isinstance(token, str) or not token:
            raise ReviewError('TokenReview.authentication.k8s.io "" is invalid: spec.token: Required value',
                              kind="TokenReview", field="spec.token")
        try:
            user = await self.authenticator.authenticate(peercert=None, authorization=f"Bearer {token}")
        except AuthenticationError as exc:
            return {"authenticated": False, "user": {}, "error": str(exc)}
        if user is None:
            return {"authenticated": False, "user": {}}
        return {"authenticated": True, "user": user.to_api(), "audiences": spec.get("audiences") or []}
