"""The kubelet API's authentication (client certificate) and authorization (SubjectAccessReview, cached)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from kubelite.agent.kubelet.auth import KubeletAuthorizer


@dataclass(frozen=True)
class Attrs:
    verb: str
    subresource: str
    node_name: str
    path: str


class Transport:
    def __init__(self, cert: dict[str, Any] | None) -> None:
        self.cert = cert

    def get_extra_info(self, name: str) -> Any:
        return self.cert if name == "peercert" else None


class Request:
    def __init__(self, cert: dict[str, Any] | None) -> None:
        self.transport = Transport(cert)


class Refused(Exception):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def cert(cn: str, *orgs: str) -> dict[str, Any]:
    return {"subject": ((("commonName", cn),), *((("organizationName", o),) for o in orgs))}


async def test_certificate_and_review_decide_with_cache() -> None:
    asked: list[dict[str, Any]] = []
    now = [0.0]

    async def review(body: dict[str, Any]) -> dict[str, Any]:
        asked.append(body)
        return {"status": {"allowed": body["spec"]["user"] == "kube-apiserver-kubelet-client"}}

    auth = KubeletAuthorizer(review=review, error=Refused, clock=lambda: now[0])
    logs = Attrs("get", "log", "n1", "/containerLogs/ns/p/c")
    await auth(Request(cert("kube-apiserver-kubelet-client", "system:masters")), logs)
    await auth(Request(cert("kube-apiserver-kubelet-client", "system:masters")), logs)
    assert len(asked) == 1  # cached
    assert asked[0]["spec"]["resourceAttributes"] == {"verb": "get", "resource": "nodes", "version": "v1",
                                                      "subresource": "log", "name": "n1"}
    with pytest.raises(Refused) as exc:
        await auth(Request(cert("mallory")), Attrs("create", "proxy", "n1", "/exec/ns/p/c"))
    assert exc.value.status == 403
    assert str(exc.value) == "Forbidden (user=mallory, verb=create, resource=nodes, subresource(s)=[proxy])"
    now[0] = 400.0  # past the cache lifetime: asked again
    await auth(Request(cert("kube-apiserver-kubelet-client")), logs)
    assert len(asked) == 3


async def test_no_certificate_is_401_but_healthz_is_public() -> None:
    async def review(body: dict[str, Any]) -> dict[str, Any]:
        raise AssertionError("no review without a user")

    auth = KubeletAuthorizer(review=review, error=Refused)
    await auth(Request(None), Attrs("get", "proxy", "n1", "/healthz"))
    with pytest.raises(Refused) as exc:
        await auth(Request(None), Attrs("get", "stats", "n1", "/stats/summary"))
    assert exc.value.status == 401
