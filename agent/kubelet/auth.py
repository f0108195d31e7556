"""Kubelet API authentication and authorization (upstream's ``pkg/kubelet/server/auth.go`` with the
webhook authenticator/authorizer).

Design
------
The kubelet trusts only client certificates signed by the cluster's client CA (verified by the TLS
layer, see ``start_kubelet_server(client_ca=...)``): CN is the user, O the groups. A request without
one is 401, except ``/healthz`` (public, as upstream). Each request is then authorized by a
``SubjectAccessReview`` to the API server for ``<verb>`` on ``nodes/<subresource>`` named after this
node, exactly the attributes upstream's kubelet sends; answers are cached (allowed 5 minutes, denied
30 seconds, upstream's defaults) so ``kubectl logs -f`` and exec do not cost a review per request.
A denial is 403 with upstream's text ``Forbidden (user=..., verb=..., resource=nodes, subresource(s)=[...])``.

``KubeletAuthorizer`` is an ``Authorizer`` for ``kubelite.agent.kubelet.server``: pass an instance as
``run_kubelet_server(authorizer=...)``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final, Protocol

from kubelite.client import APIClient, APIConnectionError, APIStatusError

Obj = dict[str, Any]

ALLOWED_TTL: Final = 300.0
DENIED_TTL: Final = 30.0
PUBLIC_PATHS: Final = frozenset({"/healthz"})


class Attributes(Protocol):
    @property
    def verb(self) -> str: ...
    @property
    def subresource(self) -> str: ...
    @property
    def node_name(self) -> str: ...
    @property
    def path(self) -> str: ...


class RequestLike(Protocol):
    @property
    def transport(self) -> Any: ...


def certificate_identity(peercert: Mapping[str, Any] | None) -> tuple[str, tuple[str, ...]] | None:
    if not peercert:
        return None
    name, groups = "", []
    for rdn in peercert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                name = value
            elif key == "organizationName":
                groups.append(value)
    return (name, tuple(groups)) if name else None


Review = Callable[[Obj], Awaitable[Obj]]


class KubeletAuthorizer:
    """Client certificate + SubjectAccessReview; raise ``error(message, status)`` to refuse."""

    def __init__(self, *, review: Review, error: Callable[[str, int], Exception],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.review = review
        self.error = error
        self.clock = clock
        self._cache: dict[tuple[str, tuple[str, ...], str, str, str], tuple[float, bool, str]] = {}

    @classmethod
    def for_client(cls, client: APIClient, *, error: Callable[[str, int], Exception]) -> KubeletAuthorizer:
        async def review(body: Obj) -> Obj:
            answer: Obj = await client.request("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews",
                                               body=body)
            return answer

        return cls(review=review, error=error)

    async def __call__(self, request: RequestLike, attributes: Attributes) -> None:
        if attributes.path in PUBLIC_PATHS:
            return
        transport = request.transport
        identity = certificate_identity(transport.get_extra_info("peercert") if transport is not None else None)
        if identity is None:
            raise self.error("Unauthorized", 401)
        name, groups = identity
        key = (name, groups, attributes.verb, attributes.subresource, attributes.node_name)
        cached = self._cache.get(key)
        now = self.clock()
        if cached is not None and cached[0] > now:
            allowed, reason = cached[1], cached[2]
        else:
            allowed, reason = await self._ask(name, groups, attributes)
            self._cache[key] = (now + (ALLOWED_TTL if allowed else DENIED_TTL), allowed, reason)
            if len(self._cache) > 4096:
                self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
        if not allowed:
            raise self.error(f"Forbidden (user={name}, verb={attributes.verb}, resource=nodes, "
                             f"subresource(s)=[{attributes.subresource}])", 403)

    async def _ask(self, name: str, groups: tuple[str, ...], attributes: Attributes) -> tuple[bool, str]:
        body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                "spec": {"user": name, "groups": list(groups),
                         "resourceAttributes": {"verb": attributes.verb, "resource": "nodes", "version": "v1",
                                                "subresource": attributes.subresource,
                                                "name": attributes.node_name}}}
        try:
            answer = await self.review(body)
        except (APIStatusError, APIConnectionError) as exc:
            # no answer is no permission, and is not remembered for long
            return False, f"authorization check failed: {exc}"
        status = answer.get("status") or {}
        return bool(status.get("allowed")), str(status.get("reason") or "")
