"""Authentication: who is calling? A union of authenticators, in upstream's order.

Design
------
Each request is offered to the authenticators in turn; the first that recognises a credential names
the user (``UserInfo``: name, uid, groups, extra, as upstream's ``user.Info``):

1. x509 client certificates, already verified against the client CA by the TLS layer: CN is the user
   name, O the groups (upstream's ``x509.CommonNameUserConversion``).
2. Bearer tokens, tried against every token authenticator:
   * the static token file (``--token-auth-file``, upstream's CSV ``token,user,uid,"g1,g2"``);
   * the server's join token (``--token``, k3s style, bare or ``K10<ca-hash>::server:<secret>``): user
     ``system:bootstrap:kubelite-server-token`` in ``system:bootstrappers``;
   * bootstrap tokens ``[a-z0-9]{6}.[a-z0-9]{16}`` stored as ``bootstrap.kubernetes.io/token`` Secrets
     in ``kube-system`` (``bootstrap_token.py``);
   * ServiceAccount JWTs (``serviceaccount_token.py``).

A request that presents a bearer token none of them accepts is refused (401), as upstream: a wrong
token never silently becomes an anonymous request. The authenticated group ``system:authenticated``
is added to every user. Token comparison is constant-time.

The module knows nothing of aiohttp: the HTTP edge hands in the verified peer certificate (the
``ssl`` module's dict form) and the ``Authorization`` header value.
"""

from __future__ import annotations

import csv
import hmac
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

Obj = dict[str, Any]

AUTHENTICATED: Final = "system:authenticated"
UNAUTHENTICATED: Final = "system:unauthenticated"
ANONYMOUS: Final = "system:anonymous"
MASTERS: Final = "system:masters"
BOOTSTRAPPERS: Final = "system:bootstrappers"
NODES: Final = "system:nodes"
SERVER_TOKEN_USER: Final = "system:bootstrap:kubelite-server-token"

# (storage key) -> the object, from the watch cache first and the store on a miss
ObjectGetter = Callable[[str], Awaitable[Obj | None]]


@dataclass(frozen=True)
class UserInfo:
    """An authenticated identity, as upstream's user.Info."""

    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False, compare=False)

    def to_api(self) -> Obj:
        """The authentication.k8s.io/v1 UserInfo wire form."""
        body: Obj = {"username": self.name, "groups": list(self.groups)}
        if self.uid:
            body["uid"] = self.uid
        if self.extra:
            body["extra"] = {k: list(v) for k, v in self.extra.items()}
        return body


def with_authenticated(user: UserInfo) -> UserInfo:
    """Every authenticated user is in system:authenticated (upstream's AuthenticatedGroupAdder)."""
    if AUTHENTICATED in user.groups or user.name == ANONYMOUS:
        return user
    return UserInfo(user.name, user.uid, (*user.groups, AUTHENTICATED), user.extra)


class AuthenticationError(Exception):
    """A credential was presented and is not valid (401); the message goes to the server log only."""


class TokenAuthenticator(Protocol):
    async def authenticate_token(self, token: str) -> UserInfo | None:
        """The user the token names, None if this authenticator does not know the token, or raise
        :class:`AuthenticationError` if it is recognisably this kind of token but invalid."""
        ...


def certificate_user(peercert: Mapping[str, Any] | None) -> UserInfo | None:
    """x509: CN is the user, each O a group (a verified certificate from ``SSLObject.getpeercert``)."""
    if not peercert:
        return None
    name, groups = "", []
    for rdn in peercert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                name = value
            elif key == "organizationName":
                groups.append(value)
    if not name:
        return None
    return UserInfo(name, "", tuple(groups))


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header ('' for an empty one), else None."""
    if not authorization:
        return None
    scheme, _, rest = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return rest.strip()


class StaticTokenFile:
    """--token-auth-file: CSV lines ``token,user,uid[,"group1,group2"]`` (upstream's tokenfile)."""

    def __init__(self, tokens: Mapping[str, UserInfo]) -> None:
        self.tokens = dict(tokens)

    @classmethod
    def load(cls, path: Path) -> StaticTokenFile:
        try:
            text = path.read_text()
        except OSError as exc:
            raise ValueError(f"--token-auth-file {path}: {exc.strerror or exc}") from None
        tokens: dict[str, UserInfo] = {}
        for number, row in enumerate(csv.reader(text.splitlines()), start=1):
            if not row or (len(row) == 1 and not row[0].strip()) or row[0].lstrip().startswith("#"):
                continue
            if len(row) < 3:
                raise ValueError(f"--token-auth-file {path}, line {number}: need at least 3 columns "
                                 f"(token,user,uid[,groups]), got {len(row)}")
            token, name, uid = row[0].strip(), row[1].strip(), row[2].strip()
            if not token or not name:
                raise ValueError(f"--token-auth-file {path}, line {number}: token and user must not be empty")
            if token in tokens:
                raise ValueError(f"--token-auth-file {path}, line {number}: duplicate token")
            groups = tuple(g.strip() for g in row[3].split(",") if g.strip()) if len(row) > 3 else ()
            tokens[token] = UserInfo(name, uid, groups)
        return cls(tokens)

    async def authenticate_token(self, token: str) -> UserInfo | None:
        for known, user in self.tokens.items():
            if hmac.compare_digest(known.encode(), token.encode()):
                return user
        return None


CERTIFICATE_USERS_REMEMBERED: Final = 4096


class Authenticator:
    """The union: x509 first, then the bearer-token authenticators in order."""

    def __init__(self, *, token_authenticators: Sequence[TokenAuthenticator] = ()) -> None:
        self.token_authenticators = list(token_authenticators)
        # certificate subject -> its user: what ``certificate_user`` makes of a subject depends on nothing
        # else (the TLS handshake verified the certificate), and a client sends the same one on every request
        self._certificate_users: dict[Any, UserInfo | None] = {}

    def _certificate_user(self, peercert: Mapping[str, Any] | None) -> UserInfo | None:
        if not peercert:
            return None
        subject = peercert.get("subject", ())
        try:
            return self._certificate_users[subject]
        except KeyError:
            pass
        except TypeError:  # an unhashable subject (not one ssl made): nothing to remember it by
            user = certificate_user(peercert)
            return with_authenticated(user) if user is not None else None
        user = certificate_user(peercert)
        if user is not None:
            user = with_authenticated(user)
        if len(self._certificate_users) >= CERTIFICATE_USERS_REMEMBERED:
            self._certificate_users.clear()  # many distinct clients: start again rather than grow
        self._certificate_users[subject] = user
        return user

    async def authenticate(self, *, peercert: Mapping[str, Any] | None,
                           authorization: str | None) -> UserInfo | None:
        """The caller, or None when no credential was presented; raises :class:`AuthenticationError`
        for a credential that is presented but not valid."""
        user = self._certificate_user(peercert)
        if user is not None:
            return user
        token = bearer_token(authorization)
        if token is None:
            return None
        if not token:
            raise AuthenticationError("empty bearer token")
        for authenticator in self.token_authenticators:
            found = await authenticator.authenticate_token(token)
            if found is not None:
                return with_authenticated(found)
        raise AuthenticationError("the bearer token is not valid")
