"""Join credentials: the server's k3s-style join token and upstream's bootstrap tokens.

Design
------
*The server token* (``kubelite server --token T``; generated when not given) is what k3s calls the
cluster token. Its full form is ``K10<sha256 hex of the server CA bundle>::server:<secret>``, written
to ``<data-dir>/server/token`` (mode 0600). An agent given the full form checks the CA it downloads
from ``/cacerts`` against the hash before trusting it (k3s's rule); given only the bare secret it
trusts the first CA it sees. The agent authenticates with the *secret* as a bearer token; the server
accepts it (or the full form) as user ``system:bootstrap:kubelite-server-token`` in
``system:bootstrappers``.

*Bootstrap tokens* (``kubelite token create|list|delete``) are upstream's format: ``<id>.<secret>``
with ``[a-z0-9]{6}`` and ``[a-z0-9]{16}``, stored as a ``bootstrap.kubernetes.io/token`` Secret
``bootstrap-token-<id>`` in ``kube-system`` with ``expiration`` (RFC 3339) for the TTL, usages and
``auth-extra-groups``. They authenticate as ``system:bootstrap:<id>`` in ``system:bootstrappers``
plus the extra groups, until they expire or are deleted. Either kind may be handed to an agent.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import re
import secrets
import string
from dataclasses import dataclass
from typing import Any, Final

from kubelite.controlplane.auth.authentication import (
    BOOTSTRAPPERS,
    SERVER_TOKEN_USER,
    AuthenticationError,
    ObjectGetter,
    UserInfo,
)

Obj = dict[str, Any]

TOKEN_RE: Final = re.compile(r"^([a-z0-9]{6})\.([a-z0-9]{16})$")
TOKEN_ID_RE: Final = re.compile(r"^[a-z0-9]{6}$")
SECRET_TYPE: Final = "bootstrap.kubernetes.io/token"
SECRET_PREFIX: Final = "bootstrap-token-"
NAMESPACE: Final = "kube-system"
EXTRA_GROUP_RE: Final = re.compile(r"^system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]$")
DEFAULT_TTL: Final = dt.timedelta(hours=24)
_ALPHABET: Final = string.ascii_lowercase + string.digits


class TokenFormatError(ValueError):
    """A join token a user typed that cannot be a kubelite or bootstrap token; says what is wrong."""


# ---- the server token ---------------------------------------------------------------------------


@dataclass(frozen=True)
class JoinToken:
    """A parsed join token: the secret the agent presents and, when given, the CA hash to check."""

    secret: str
    ca_hash: str = ""


def ca_hash(ca_pem: bytes) -> str:
    """k3s's hash of the CA bundle: sha256 hex of the PEM bytes as served on /cacerts."""
    return hashlib.sha256(ca_pem).hexdigest()


def parse_join_token(text: str) -> JoinToken:
    """``K10<hash>::<user>:<secret>`` or a bare secret (also a bootstrap token ``id.secret``)."""
    token = text.strip()
    if not token:
        raise TokenFormatError("the token is empty")
    if any(c.isspace() for c in token):
        raise TokenFormatError("the token must not contain white space")
    if token.startswith("K10"):
        head, sep, creds = token.partition("::")
        if not sep:
            raise TokenFormatError("a K10 token needs '::' between the CA hash and the credentials")
        digest = head[3:]
        if not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise TokenFormatError("a K10 token starts with K10 and the 64-hex-digit sha256 of the server CA")
        _, colon, secret = creds.partition(":")
        if not colon or not secret:
            raise TokenFormatError("a K10 token ends with <user>:<secret>, e.g. ::server:<secret>")
        return JoinToken(secret, digest)
    return JoinToken(token)


def full_server_token(*, secret: str, ca_pem: bytes) -> str:
    return f"K10{ca_hash(ca_pem)}::server:{secret}"


def new_server_secret() -> str:
    return secrets.token_hex(16)


class ServerTokenAuthenticator:
    """Accepts the server's join secret (bare or in its full K10 form)."""

    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("the server token must not be empty")
        self.secret = secret

    async def authenticate_token(self, token: str) -> UserInfo | None:
        try:
            presented = parse_join_token(token).secret
        except TokenFormatError:
            return None
        if hmac.compare_digest(presented.encode(), self.secret.encode()):
            return UserInfo(SERVER_TOKEN_USER, "", (BOOTSTRAPPERS,))
        return None


# ---- bootstrap tokens ---------------------------------------------------------------------------


def new_bootstrap_token() -> str:
    """A random token in upstream's format."""
    return (''.join(secrets.choice(_ALPHABET) for _ in range(6)) + "." +
            ''.join(secrets.choice(_ALPHABET) for _ in range(16)))


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _rfc3339(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def bootstrap_token_secret(*, token: str, ttl: dt.timedelta | None, description: str = "",
                           groups: tuple[str, ...] = (), usages: tuple[str, ...] = ("authentication", "signing"),
                           now: dt.datetime | None = None) -> Obj:
    """The Secret that stores ``token`` (upstream's layout); ``ttl`` None or zero: never expires."""
    match = TOKEN_RE.match(token)
    if match is None:
        raise TokenFormatError(f'token "{token}" is not of the form "[a-z0-9]{{6}}.[a-z0-9]{{16}}"')
    for group in groups:
        if not EXTRA_GROUP_RE.match(group):
            raise TokenFormatError(f'group "{group}" must start with "system:bootstrappers:" and end with a '
                                   "letter or digit")
    for usage in usages:
        if usage not in ("authentication", "signing"):
            raise TokenFormatError(f'usage "{usage}" is not one of: authentication, signing')
    token_id, secret = match.groups()
    data = {"token-id": _b64(token_id), "token-secret": _b64(secret)}
    if ttl is not None and ttl.total_seconds() > 0:
        data["expiration"] = _b64(_rfc3339((now or dt.datetime.now(dt.UTC)) + ttl))
    if description:
        data["description"] = _b64(description)
    for usage in usages:
        data[f"usage-bootstrap-{usage}"] = _b64("true")
    if groups:
        data["auth-extra-groups"] = _b64(",".join(groups))
    return {"apiVersion": "v1", "kind": "Secret", "type": SECRET_TYPE,
            "metadata": {"name": SECRET_PREFIX + token_id, "namespace": NAMESPACE}, "data": data}


def secret_data(secret: Obj) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in (secret.get("data") or {}).items():
        try:
            out[key] = base64.b64decode(str(value), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            continue
    return out


def expiration(data: dict[str, str]) -> dt.datetime | None:
    text = data.get("expiration")
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        # an unreadable expiration must not make a token immortal
        return dt.datetime.min.replace(tzinfo=dt.UTC)


def parse_ttl(text: str) -> dt.timedelta:
    """Go-style durations as kubeadm's --ttl takes them: 24h, 90m, 1h30m, 45s, 0 (never expires)."""
    if text.strip() == "0":
        return dt.timedelta(0)
    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", text.strip())
    if not text.strip() or parts is None:
        raise TokenFormatError(f'invalid duration "{text}": use e.g. 24h, 90m, 1h30m, 45s or 0 (never expires)')
    hours, minutes, seconds = (int(p) if p else 0 for p in parts.groups())
    return dt.timedelta(hours=hours, minutes=minutes, seconds=seconds)


class BootstrapTokenAuthenticator:
    """Bearer tokens ``<id>.<secret>`` checked against their kube-system Secret (upstream's bootstrap
    token authenticator)."""

    def __init__(self, get_object: ObjectGetter) -> None:
        self.get_object = get_object

    async def authenticate_token(self, token: str) -> UserInfo | None:
        match = TOKEN_RE.match(token)
        if match is None:
            return None
        token_id, presented = match.groups()
        secret = await self.get_object(f"/core/secrets/{NAMESPACE}/{SECRET_PREFIX}{token_id}")
        if secret is None or secret.get("type") != SECRET_TYPE or (secret.get("metadata") or {}).get(
                "deletionTimestamp"):
            raise AuthenticationError(f"bootstrap token {token_id}: no such token")
        data = secret_data(secret)
        if not hmac.compare_digest(data.get("token-secret", "").encode(), presented.encode()) or \
                data.get("token-id", token_id) != token_id:
            raise AuthenticationError(f"bootstrap token {token_id}: wrong secret")
        if data.get("usage-bootstrap-authentication") != "true":
            raise AuthenticationError(f"bootstrap token {token_id}: not marked for authentication")
        expires = expiration(data)
        if expires is not None and expires <= dt.datetime.now(dt.UTC):
            raise AuthenticationError(f"bootstrap token {token_id}: expired at {_rfc3339(expires)}")
        groups = [BOOTSTRAPPERS]
        for raw in data.get("auth-extra-groups", "").split(","):
            group = raw.strip()
            if group and EXTRA_GROUP_RE.match(group) and group not in groups:
                groups.append(group)
        return UserInfo(f"system:bootstrap:{token_id}", "", tuple(groups))
