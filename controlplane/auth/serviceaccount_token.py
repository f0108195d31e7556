"""ServiceAccount tokens: bound, expiring JWTs (TokenRequest) and their authenticator.

Design
------
Tokens are upstream's bound service-account tokens: a JWT signed with the PKI's ``service.key``
(RS256 for RSA, ES256 for P-256; ``kid`` is the base64url sha256 of the public key's DER, as upstream
computes it) with claims ``iss``, ``sub`` (``system:serviceaccount:<ns>:<name>``), ``aud``, ``exp``,
``iat``, ``nbf``, ``jti`` and the private ``kubernetes.io`` claim naming the namespace, the account
(name + uid) and the object the token is bound to (a Pod or a Secret, name + uid).

Verification checks the signature, the time window, the issuer and that the token's audiences meet
the API server's; then, as upstream's ``validator``, that the ServiceAccount *still exists with the
same uid* and that a bound object does too (a Pod deleted more than 60 s ago invalidates its tokens).
So deleting an account or its pod revokes its tokens at once, without a deny list.

``token_request`` serves ``POST .../serviceaccounts/<name>/token`` (``kubectl create token``):
``expirationSeconds`` defaults to one hour and must be at least 10 minutes, as upstream.

Legacy tokens (a Secret of type ``kubernetes.io/service-account-token`` that a user creates with the
``kubernetes.io/service-account.name`` annotation; ``controlplane.auth.security`` fills in its ``token``):
issuer ``kubernetes/serviceaccount``, no expiry, upstream's ``kubernetes.io/serviceaccount/*`` claims. They
authenticate while the Secret still holds exactly that token and the account still exists with the same
uid, as upstream's legacy validator: deleting either revokes them.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import uuid
from typing import Any, Final

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from kubelite.controlplane.auth.authentication import (
    AuthenticationError,
    ObjectGetter,
    UserInfo,
)
from kubelite.controlplane.auth.node_authorizer import node_name

Obj = dict[str, Any]

DEFAULT_ISSUER: Final = "https://kubernetes.default.svc.cluster.local"
DEFAULT_EXPIRATION_SECONDS: Final = 3600
MIN_EXPIRATION_SECONDS: Final = 600
MAX_EXPIRATION_SECONDS: Final = 1 << 32
POD_DELETION_GRACE: Final = dt.timedelta(seconds=60)
SA_PREFIX: Final = "system:serviceaccount:"
LEGACY_ISSUER: Final = "kubernetes/serviceaccount"
LEGACY_SECRET_TYPE: Final = "kubernetes.io/service-account-token"
_LEGACY: Final = "kubernetes.io/serviceaccount/"


class TokenRequestError(ValueError):
    """A TokenRequest that cannot be served; ``field`` and ``reason`` shape the 422 (or 404/400)."""

    def __init__(self, message: str, *, code: int = 422, field: str = "", reason: str = "FieldValueInvalid") -> None:
        super().__init__(message)
        self.code = code
        self.field = field
        self.reason = reason


def key_id(public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey) -> str:
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


def service_account_user_name(namespace: str, name: str) -> str:
    return f"{SA_PREFIX}{namespace}:{name}"


def service_account_groups(namespace: str) -> tuple[str, ...]:
    return ("system:serviceaccounts", f"system:serviceaccounts:{namespace}")


class ServiceAccountTokens:
    """Issues and verifies ServiceAccount JWTs with one signing key."""

    def __init__(self, *, private_key_pem: bytes, get_object: ObjectGetter, issuer: str = DEFAULT_ISSUER,
                 audiences: tuple[str, ...] = ()) -> None:
        key = serialization.load_pem_private_key(private_key_pem, password=None)
        if isinstance(key, rsa.RSAPrivateKey):
            self.algorithm = "RS256"
        elif isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
            self.algorithm = "ES256"
        else:
            raise ValueError("the ServiceAccount signing key must be RSA or ECDSA P-256")
        self.private_key = key
        self.public_key = key.public_key()
        self.kid = key_id(self.public_key)
        self.issuer = issuer
        self.audiences = audiences or (issuer,)
        self.get_object = get_object

    # ---- issuing ------------------------------------------------------------------------------

    def issue(self, *, namespace: str, name: str, uid: str, audiences: tuple[str, ...] = (),
              expiration_seconds: int = DEFAULT_EXPIRATION_SECONDS, bound: Obj | None = None,
              now: dt.datetime | None = None) -> tuple[str, dt.datetime]:
        """A signed token for ServiceAccount ``namespace/name`` (uid ``uid``); returns it and its expiry.
        ``bound`` is ``{"kind", "name", "uid"}`` of a Pod or Secret the token dies with."""
        moment = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
        expires = moment + dt.timedelta(seconds=expiration_seconds)
        private: Obj = {"namespace": namespace, "serviceaccount": {"name": name, "uid": uid}}
        if bound:
            private[str(bound["kind"]).lower()] = {"name": bound["name"], "uid": bound["uid"]}
        claims: Obj = {
            "aud": list(audiences or self.audiences), "exp": int(expires.timestamp()),
            "iat": int(moment.timestamp()), "nbf": int(moment.timestamp()), "iss": self.issuer,
            "jti": str(uuid.uuid4()), "kubernetes.io": private, "sub": service_account_user_name(namespace, name)}
        token = jwt.encode(claims, self.private_key, algorithm=self.algorithm, headers={"kid": self.kid})
        return token, expires

    def issue_legacy(self, *, namespace: str, name: str, uid: str, secret_name: str) -> str:
        """A legacy (Secret-based, non-expiring) token, as upstream's tokens controller writes it."""
        claims: Obj = {"iss": LEGACY_ISSUER, "sub": service_account_user_name(namespace, name),
                       f"{_LEGACY}namespace": namespace, f"{_LEGACY}secret.name": secret_name,
                       f"{_LEGACY}service-account.name": name, f"{_LEGACY}service-account.uid": uid}
        return jwt.encode(claims, self.private_key, algorithm=self.algorithm, headers={"kid": self.kid})

    # ---- verifying ----------------------------------------------------------------------------

    async def authenticate_token(self, token: str) -> UserInfo | None:
        if token.count(".") != 2:
            return None
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            return None
        if isinstance(unverified, dict) and unverified.get("iss") == LEGACY_ISSUER:
            return await self._authenticate_legacy(token)
        if not isinstance(unverified, dict) or unverified.get("iss") != self.issuer:
            return None  # not ours: another issuer's JWT
        try:
            claims = jwt.decode(token, self.public_key, algorithms=[self.algorithm], audience=list(self.audiences),
                                issuer=self.issuer, options={"require": ["exp", "sub", "iss"]}, leeway=0)
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("service account token has expired")
        except jwt.PyJWTError as exc:
            raise AuthenticationError(f"service account token is not valid: {exc}")
        private = claims.get("kubernetes.io")
        if not isinstance(private, dict):
            raise AuthenticationError("service account token lacks the kubernetes.io claim")
        namespace = private.get("namespace")
        account = private.get("serviceaccount") or {}
        if not isinstance(namespace, str) or not isinstance(account, dict) or not account.get("name"):
            raise AuthenticationError("service account token names no service account")
        name, uid = str(account["name"]), str(account.get("uid") or "")
        if claims.get("sub") != service_account_user_name(namespace, name):
            raise AuthenticationError("service account token: sub does not match the kubernetes.io claim")
        sa = await self.get_object(f"/core/serviceaccounts/{namespace}/{name}")
        if sa is None or (uid and sa["metadata"].get("uid") != uid):
            raise AuthenticationError(f"service account {namespace}/{name} no longer exists")
        if sa["metadata"].get("deletionTimestamp"):
            raise AuthenticationError(f"service account {namespace}/{name} is being deleted")
        extra: dict[str, tuple[str, ...]] = {
            "authentication.kubernetes.io/credential-id": (f"JTI={claims.get('jti')}",)}
        for kind, plural in (("pod", "pods"), ("secret", "secrets")):
            ref = private.get(kind)
            if not isinstance(ref, dict):
                continue
            obj = await self.get_object(f"/core/{plural}/{namespace}/{ref.get('name')}")
            if obj is None or obj["metadata"].get("uid") != ref.get("uid"):
                raise AuthenticationError(f"the {kind} {namespace}/{ref.get('name')} this token is bound to "
                                          "no longer exists")
            deleted = obj["metadata"].get("deletionTimestamp")
            if kind == "pod" and deleted:
                when = dt.datetime.fromisoformat(str(deleted).replace("Z", "+00:00"))
                if when + POD_DELETION_GRACE < dt.datetime.now(dt.UTC):
                    raise AuthenticationError(f"the pod {namespace}/{ref.get('name')} was deleted")
            if kind == "pod":
                extra["authentication.kubernetes.io/pod-name"] = (str(ref.get("name")),)
                extra["authentication.kubernetes.io/pod-uid"] = (str(ref.get("uid")),)
                node = (obj.get("spec") or {}).get("nodeName")
                if node:
                    extra["authentication.kubernetes.io/node-name"] = (str(node),)
        return UserInfo(service_account_user_name(namespace, name), str(sa["metadata"].get("uid") or uid),
                        service_account_groups(namespace), extra)

    async def _authenticate_legacy(self, token: str) -> UserInfo:
        try:
            claims = jwt.decode(token, self.public_key, algorithms=[self.algorithm], issuer=LEGACY_ISSUER,
                                options={"require": ["sub", "iss"], "verify_aud": False})
        except jwt.PyJWTError as exc:
            raise AuthenticationError(f"legacy service account token is not valid: {exc}")
        namespace, secret_name = claims.get(f"{_LEGACY}namespace"), claims.get(f"{_LEGACY}secret.name")
        name, uid = claims.get(f"{_LEGACY}service-account.name"), claims.get(f"{_LEGACY}service-account.uid")
        if not all(isinstance(v, str) and v for v in (namespace, secret_name, name, uid)):
            raise AuthenticationError("legacy service account token lacks its kubernetes.io/serviceaccount claims")
        assert isinstance(namespace, str) and isinstance(name, str)
        if claims.get("sub") != service_account_user_name(namespace, name):
            raise AuthenticationError("legacy service account token: sub does not match its claims")
        secret = await self.get_object(f"/core/secrets/{namespace}/{secret_name}")
        stored = ((secret or {}).get("data") or {}).get("token")
        if secret is None or secret["metadata"].get("deletionTimestamp") or not isinstance(stored, str) or \
                base64.b64decode(stored) != token.encode():
            raise AuthenticationError(f"the token secret {namespace}/{secret_name} no longer holds this token")
        sa = await self.get_object(f"/core/serviceaccounts/{namespace}/{name}")
        if sa is None or sa["metadata"].get("uid") != uid or sa["metadata"].get("deletionTimestamp"):
            raise AuthenticationError(f"service account {namespace}/{name} no longer exists")
        return UserInfo(service_account_user_name(namespace, name), str(uid), service_account_groups(namespace))

    # ---- the TokenRequest subresource ---------------------------------------------------------

    async def token_request(self, *, service_account: Obj, body: Obj, user: UserInfo | None = None) -> Obj:
        """Serve an authentication.k8s.io/v1 TokenRequest for ``service_account``.

        A node (``user`` ``system:node:<name>``) gets only tokens bound to a pod scheduled on it, as
        upstream's NodeRestriction: an unbound token would outlive the pod it was asked for."""
        if not isinstance(body, dict) or body.get("kind") not in (None, "TokenRequest"):
            raise TokenRequestError("the body must be an authentication.k8s.io/v1 TokenRequest", code=400)
        md = service_account["metadata"]
        namespace, name = str(md["namespace"]), str(md["name"])
        spec = body.get("spec") or {}
        if not isinstance(spec, dict):
            raise TokenRequestError("spec must be an object", code=400)
        seconds = spec.get("expirationSeconds", DEFAULT_EXPIRATION_SECONDS)
        if not isinstance(seconds, int) or isinstance(seconds, bool):
            raise TokenRequestError(f"spec.expirationSeconds: Invalid value: {seconds!r}: must be an integer",
                                    field="spec.expirationSeconds")
        if seconds < MIN_EXPIRATION_SECONDS:
            raise TokenRequestError(f"spec.expirationSeconds: Invalid value: {seconds}: may not specify a duration "
                                    "less than 10 minutes", field="spec.expirationSeconds")
        if seconds > MAX_EXPIRATION_SECONDS:
            raise TokenRequestError(f"spec.expirationSeconds: Invalid value: {seconds}: may not specify a duration "
                                    "larger than 2^32 seconds", field="spec.expirationSeconds")
        audiences = spec.get("audiences") or []
        if not isinstance(audiences, list) or not all(isinstance(a, str) and a for a in audiences):
            raise TokenRequestError("spec.audiences: Invalid value: must be a list of non-empty strings",
                                    field="spec.audiences")
        bound: Obj | None = None
        ref = spec.get("boundObjectRef")
        node = node_name(user) if user is not None else None
        if node is not None:
            await self._check_node_binding(node, namespace, name, ref)
        if ref:
            bound = await self._bound_object(namespace, ref)
        token, expires = self.issue(namespace=namespace, name=name, uid=str(md.get("uid") or ""),
                                    audiences=tuple(audiences), expiration_seconds=seconds, bound=bound)
        out_spec: Obj = {"audiences": list(audiences or self.audiences), "expirationSeconds": seconds,
                         "boundObjectRef": ref or None}
        return {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
                "metadata": {"name": name, "namespace": namespace, "creationTimestamp": None},
                "spec": out_spec,
                "status": {"token": token, "expirationTimestamp": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}}

    async def _check_node_binding(self, node: str, namespace: str, name: str, ref: Any) -> None:
        def forbidden(why: str) -> TokenRequestError:
            return TokenRequestError(f'serviceaccounts "{name}" is forbidden: {why}', code=403)

        if not isinstance(ref, dict) or ref.get("apiVersion") != "v1" or ref.get("kind") != "Pod" or \
                not ref.get("name"):
            raise forbidden("node requested token not bound to a pod")
        if not ref.get("uid"):
            raise forbidden("node requested token with a pod binding without a uid")
        pod = await self.get_object(f"/core/pods/{namespace}/{ref['name']}")
        if pod is None:
            raise TokenRequestError(f'pods "{ref["name"]}" not found', code=404)
        if pod["metadata"].get("uid") != ref["uid"]:
            raise forbidden(f"the UID in the bound object reference ({ref['uid']}) does not match the UID in record. "
                            "The object might have been deleted and then recreated")
        if (pod.get("spec") or {}).get("nodeName") != node:
            raise forbidden("node requested token bound to a pod scheduled on a different node")

    async def _bound_object(self, namespace: str, ref: Any) -> Obj:
        if not isinstance(ref, dict):
            raise TokenRequestError("spec.boundObjectRef must be an object", code=400)
        kind, name = ref.get("kind"), ref.get("name")
        plural = {"Pod": "pods", "Secret": "secrets"}.get(str(kind))
        if plural is None:
            raise TokenRequestError(f'spec.boundObjectRef.kind: Unsupported value: "{kind}": supported values: '
                                    '"Pod", "Secret"', field="spec.boundObjectRef.kind",
                                    reason="FieldValueNotSupported")
        if ref.get("apiVersion") not in (None, "", "v1"):
            raise TokenRequestError(f'spec.boundObjectRef.apiVersion: Invalid value: "{ref.get("apiVersion")}": '
                                    'must be "v1"', field="spec.boundObjectRef.apiVersion")
        if not name:
            raise TokenRequestError("spec.boundObjectRef.name: Required value", field="spec.boundObjectRef.name",
                                    reason="FieldValueRequired")
        obj = await self.get_object(f"/core/{plural}/{namespace}/{name}")
        if obj is None:
            raise TokenRequestError(f'{plural} "{name}" not found', code=404)
        uid = obj["metadata"].get("uid")
        if ref.get("uid") and ref["uid"] != uid:
            raise TokenRequestError(f'the UID in the bound object reference ({ref["uid"]}) does not match the UID '
                                    f"in record. The object might have been deleted and then recreated", code=409)
        return {"kind": kind, "name": name, "uid": uid}
