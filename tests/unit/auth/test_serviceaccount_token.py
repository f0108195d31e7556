"""ServiceAccount JWTs: issue, verify, expiry, audience, revocation by deleting the account or pod."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from kubelite.controlplane.auth.authentication import AuthenticationError, UserInfo
from kubelite.controlplane.auth.serviceaccount_token import ServiceAccountTokens, TokenRequestError

Obj = dict[str, Any]
SA_KEY = "/core/serviceaccounts/default/builder"
POD_KEY = "/core/pods/default/web"


def pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@pytest.fixture(scope="module")
def rsa_pem() -> bytes:
    return pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))


def make(objects: dict[str, Obj], key_pem: bytes) -> ServiceAccountTokens:
    async def get(key: str) -> Obj | None:
        return objects.get(key)

    return ServiceAccountTokens(private_key_pem=key_pem, get_object=get)


def objects() -> dict[str, Obj]:
    return {SA_KEY: {"metadata": {"name": "builder", "namespace": "default", "uid": "sa-uid"}},
            POD_KEY: {"metadata": {"name": "web", "namespace": "default", "uid": "pod-uid"},
                      "spec": {"nodeName": "n1"}}}


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
async def test_issued_token_authenticates_as_the_account(rsa_pem: bytes, algorithm: str) -> None:
    key_pem = rsa_pem if algorithm == "RS256" else pem(ec.generate_private_key(ec.SECP256R1()))
    store = objects()
    tokens = make(store, key_pem)
    token, _ = tokens.issue(namespace="default", name="builder", uid="sa-uid")
    assert jwt.get_unverified_header(token)["alg"] == algorithm
    assert jwt.get_unverified_header(token)["kid"] == tokens.kid
    user = await tokens.authenticate_token(token)
    assert user is not None
    assert user.name == "system:serviceaccount:default:builder"
    assert user.uid == "sa-uid"
    assert user.groups == ("system:serviceaccounts", "system:serviceaccounts:default")


async def test_deleting_or_recreating_the_account_revokes(rsa_pem: bytes) -> None:
    store = objects()
    tokens = make(store, rsa_pem)
    token, _ = tokens.issue(namespace="default", name="builder", uid="sa-uid")
    store[SA_KEY] = {"metadata": {"name": "builder", "namespace": "default", "uid": "another"}}
    with pytest.raises(AuthenticationError, match="no longer exists"):
        await tokens.authenticate_token(token)
    del store[SA_KEY]
    with pytest.raises(AuthenticationError, match="no longer exists"):
        await tokens.authenticate_token(token)


async def test_pod_bound_token_dies_with_its_pod(rsa_pem: bytes) -> None:
    store = objects()
    tokens = make(store, rsa_pem)
    token, _ = tokens.issue(namespace="default", name="builder", uid="sa-uid",
                            bound={"kind": "Pod", "name": "web", "uid": "pod-uid"})
    user = await tokens.authenticate_token(token)
    assert user is not None and user.extra["authentication.kubernetes.io/node-name"] == ("n1",)
    del store[POD_KEY]
    with pytest.raises(AuthenticationError, match="bound to"):
        await tokens.authenticate_token(token)


async def test_expired_wrong_audience_tampered_and_foreign_tokens(rsa_pem: bytes) -> None:
    tokens = make(objects(), rsa_pem)
    old, _ = tokens.issue(namespace="default", name="builder", uid="sa-uid",
                          now=dt.datetime.now(dt.UTC) - dt.timedelta(hours=2))
    with pytest.raises(AuthenticationError, match="expired"):
        await tokens.authenticate_token(old)
    other_audience, _ = tokens.issue(namespace="default", name="builder", uid="sa-uid", audiences=("vault",))
    with pytest.raises(AuthenticationError, match="not valid"):
        await tokens.authenticate_token(other_audience)
    good, _ = tokens.issue(namespace="default", name="builder", uid="sa-uid")
    head, body, signature = good.split(".")
    tampered = f"{head}.{body}.{signature[:-4]}AAAA"
    with pytest.raises(AuthenticationError):
        await tokens.authenticate_token(tampered)
    other_key = make(objects(), pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)))
    forged, _ = other_key.issue(namespace="default", name="builder", uid="sa-uid")
    with pytest.raises(AuthenticationError):
        await tokens.authenticate_token(forged)
    foreign = jwt.encode({"iss": "https://elsewhere", "sub": "x"}, "k" * 32, algorithm="HS256")
    assert await tokens.authenticate_token(foreign) is None
    assert await tokens.authenticate_token("abc.def") is None


async def test_token_request_validation(rsa_pem: bytes) -> None:
    store = objects()
    tokens = make(store, rsa_pem)
    sa = store[SA_KEY]
    answer = await tokens.token_request(service_account=sa, body={"spec": {"expirationSeconds": 900}})
    assert answer["kind"] == "TokenRequest"
    assert answer["spec"]["audiences"] == ["https://kubernetes.default.svc.cluster.local"]
    assert await tokens.authenticate_token(answer["status"]["token"]) is not None
    with pytest.raises(TokenRequestError, match="less than 10 minutes"):
        await tokens.token_request(service_account=sa, body={"spec": {"expirationSeconds": 60}})
    with pytest.raises(TokenRequestError, match="Unsupported value"):
        await tokens.token_request(service_account=sa, body={"spec": {"boundObjectRef": {"kind": "Node",
                                                                                           "name": "n1"}}})
    with pytest.raises(TokenRequestError, match="not found"):
        await tokens.token_request(service_account=sa, body={"spec": {"boundObjectRef": {"kind": "Pod",
                                                                                           "name": "gone"}}})
    with pytest.raises(TokenRequestError, match="UID"):
        await tokens.token_request(service_account=sa, body={"spec": {"boundObjectRef": {
            "kind": "Pod", "name": "web", "uid": "stale"}}})


async def test_a_node_gets_only_tokens_bound_to_its_own_pods(rsa_pem: bytes) -> None:
    objs = objects()
    objs[POD_KEY]["spec"] = {"nodeName": "n1"}
    tokens = make(objs, rsa_pem)
    sa = objs[SA_KEY]
    node = UserInfo("system:node:n1", "", ("system:nodes", "system:authenticated"))
    other = UserInfo("system:node:n2", "", ("system:nodes", "system:authenticated"))
    bound = {"spec": {"boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": "web", "uid": "pod-uid"}}}
    assert (await tokens.token_request(service_account=sa, body=bound, user=node))["status"]["token"]
    for user, body, message in (
            (node, {"spec": {}}, "node requested token not bound to a pod"),
            (node, {"spec": {"boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": "web"}}},
             "node requested token with a pod binding without a uid"),
            (other, bound, "node requested token bound to a pod scheduled on a different node")):
        with pytest.raises(TokenRequestError, match=message) as exc:
            await tokens.token_request(service_account=sa, body=body, user=user)
        assert exc.value.code == 403
    # anyone else may still ask for an unbound token
    admin = UserInfo("system:admin", "", ("system:masters",))
    assert (await tokens.token_request(service_account=sa, body={"spec": {}}, user=admin))["status"]["token"]


async def test_legacy_secret_tokens(rsa_pem: bytes) -> None:
    objs = objects()
    tokens = make(objs, rsa_pem)
    token = tokens.issue_legacy(namespace="default", name="builder", uid="sa-uid", secret_name="builder-token")
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["iss"] == "kubernetes/serviceaccount" and "exp" not in claims
    assert claims["kubernetes.io/serviceaccount/secret.name"] == "builder-token"
    with pytest.raises(AuthenticationError, match="no longer holds this token"):
        await tokens.authenticate_token(token)  # no Secret yet
    objs["/core/secrets/default/builder-token"] = {"metadata": {"name": "builder-token"},
                                                   "data": {"token": base64.b64encode(token.encode()).decode()}}
    user = await tokens.authenticate_token(token)
    assert user is not None and user.name == "system:serviceaccount:default:builder" and user.uid == "sa-uid"
    objs[SA_KEY]["metadata"]["uid"] = "recreated"
    with pytest.raises(AuthenticationError, match="no longer exists"):
        await tokens.authenticate_token(token)
    forged = jwt.encode(claims, rsa.generate_private_key(public_exponent=65537, key_size=2048), algorithm="RS256")
    with pytest.raises(AuthenticationError, match="not valid"):
        await tokens.authenticate_token(forged)
