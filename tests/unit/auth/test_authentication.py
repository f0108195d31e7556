"""The authenticator union: x509, static token file, join and bootstrap tokens, bad credentials."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from kubelite.controlplane.auth import authentication
from kubelite.controlplane.auth.authentication import (
    AuthenticationError,
    Authenticator,
    StaticTokenFile,
    UserInfo,
    bearer_token,
    certificate_user,
)
from kubelite.controlplane.auth.bootstrap_token import (
    BootstrapTokenAuthenticator,
    ServerTokenAuthenticator,
    TokenFormatError,
    bootstrap_token_secret,
    ca_hash,
    full_server_token,
    new_bootstrap_token,
    parse_join_token,
    parse_ttl,
)

Obj = dict[str, Any]


def peercert(cn: str, *orgs: str) -> dict[str, Any]:
    return {"subject": ((("commonName", cn),), *((("organizationName", o),) for o in orgs))}


def getter(objects: dict[str, Obj]) -> Any:
    async def get(key: str) -> Obj | None:
        return objects.get(key)

    return get


def test_certificate_user_takes_cn_and_organizations() -> None:
    assert certificate_user(peercert("alice", "dev", "ops")) == UserInfo("alice", "", ("dev", "ops"))
    assert certificate_user(None) is None
    assert certificate_user({"subject": ((("organizationName", "x"),),)}) is None


@pytest.mark.parametrize(("header", "token"), [
    pytest.param("Bearer abc", "abc", id="bearer"),
    pytest.param("bearer  abc ", "abc", id="case-and-space"),
    pytest.param("Basic Zm9vOmJhcg==", None, id="basic"),
    pytest.param(None, None, id="none"),
    pytest.param("Bearer", "", id="empty"),
])
def test_bearer_token(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


async def test_union_adds_authenticated_group_and_refuses_unknown_tokens(tmp_path: Path) -> None:
    path = tmp_path / "tokens.csv"
    path.write_text('# comment\nsecret1,bob,uid-1,"dev,ops"\nsecret2,carol,uid-2\n')
    auth = Authenticator(token_authenticators=[StaticTokenFile.load(path)])
    bob = await auth.authenticate(peercert=None, authorization="Bearer secret1")
    assert bob == UserInfo("bob", "uid-1", ("dev", "ops", "system:authenticated"))
    carol = await auth.authenticate(peercert=None, authorization="Bearer secret2")
    assert carol is not None and carol.groups == ("system:authenticated",)
    assert await auth.authenticate(peercert=None, authorization=None) is None
    with pytest.raises(AuthenticationError):
        await auth.authenticate(peercert=None, authorization="Bearer nope")
    with pytest.raises(AuthenticationError):
        await auth.authenticate(peercert=None, authorization="Bearer ")
    # a certificate wins over a (bad) token, as upstream's union tries x509 first
    admin = await auth.authenticate(peercert=peercert("admin", "system:masters"), authorization="Bearer nope")
    assert admin is not None and admin.name == "admin"


@pytest.mark.parametrize("content", [
    pytest.param("onlytwo,columns\n", id="too-few-columns"),
    pytest.param("a,b,c\na,d,e\n", id="duplicate"),
    pytest.param(",user,uid\n", id="empty-token"),
])
def test_static_token_file_rejects_bad_lines(tmp_path: Path, content: str) -> None:
    path = tmp_path / "t.csv"
    path.write_text(content)
    with pytest.raises(ValueError, match="line"):
        StaticTokenFile.load(path)


def test_join_token_forms() -> None:
    ca = b"-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n"
    full = full_server_token(secret="s3cret", ca_pem=ca)
    assert full.startswith("K10" + ca_hash(ca) + "::server:")
    assert parse_join_token(full) == parse_join_token(full).__class__("s3cret", ca_hash(ca))
    assert parse_join_token("plain").secret == "plain"
    for bad in ("", "K10abc::server:x", "K10" + "a" * 64 + "::nocolon", "two words"):
        with pytest.raises(TokenFormatError):
            parse_join_token(bad)


async def test_server_token_accepts_bare_and_full_forms() -> None:
    auth = ServerTokenAuthenticator("s3cret")
    user = await auth.authenticate_token("s3cret")
    assert user is not None and "system:bootstrappers" in user.groups
    assert await auth.authenticate_token(full_server_token(secret="s3cret", ca_pem=b"ca")) is not None
    assert await auth.authenticate_token("wrong") is None


async def test_bootstrap_token_lifecycle() -> None:
    token = new_bootstrap_token()
    token_id = token.split(".")[0]
    key = f"/core/secrets/kube-system/bootstrap-token-{token_id}"
    secret = bootstrap_token_secret(token=token, ttl=dt.timedelta(hours=1),
                                    groups=("system:bootstrappers:workers",))
    objects = {key: secret}
    auth = BootstrapTokenAuthenticator(getter(objects))
    user = await auth.authenticate_token(token)
    assert user == UserInfo(f"system:bootstrap:{token_id}", "",
                            ("system:bootstrappers", "system:bootstrappers:workers"))
    assert await auth.authenticate_token("not-a-bootstrap-token") is None
    with pytest.raises(AuthenticationError, match="wrong secret"):
        await auth.authenticate_token(token_id + ".0000000000000000")
    # past its TTL
    objects[key] = bootstrap_token_secret(token=token, ttl=dt.timedelta(seconds=1),
                                          now=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
    with pytest.raises(AuthenticationError, match="expired"):
        await auth.authenticate_token(token)
    # deleted
    del objects[key]
    with pytest.raises(AuthenticationError, match="no such token"):
        await auth.authenticate_token(token)


def test_bootstrap_token_secret_validation() -> None:
    with pytest.raises(TokenFormatError, match="form"):
        bootstrap_token_secret(token="ABCDEF.0123456789abcdef", ttl=None)
    with pytest.raises(TokenFormatError, match="system:bootstrappers:"):
        bootstrap_token_secret(token="abcdef.0123456789abcdef", ttl=None, groups=("admins",))
    secret = bootstrap_token_secret(token="abcdef.0123456789abcdef", ttl=dt.timedelta(0))
    assert "expiration" not in secret["data"]
    assert secret["metadata"] == {"name": "bootstrap-token-abcdef", "namespace": "kube-system"}


@pytest.mark.parametrize(("text", "seconds"), [("24h", 86400), ("90m", 5400), ("1h30m", 5400), ("45s", 45),
                                               ("0", 0)])
def test_parse_ttl(text: str, seconds: int) -> None:
    assert parse_ttl(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "1d", "-1h", "h"])
def test_parse_ttl_rejects(text: str) -> None:
    with pytest.raises(TokenFormatError):
        parse_ttl(text)


async def test_a_certificate_subject_is_remembered_with_its_user() -> None:
    auth = Authenticator()
    first = await auth.authenticate(peercert=peercert("alice", "dev"), authorization=None)
    assert first == UserInfo("alice", "", ("dev", "system:authenticated"))
    # the same subject (another connection of the same client) gets the same user, without parsing again
    assert await auth.authenticate(peercert=peercert("alice", "dev"), authorization=None) is first
    bob = await auth.authenticate(peercert=peercert("bob"), authorization=None)
    assert bob == UserInfo("bob", "", ("system:authenticated",))
    # a subject without a CN is no user, then as before: the token decides
    with pytest.raises(AuthenticationError):
        await auth.authenticate(peercert={"subject": ((("organizationName", "x"),),)}, authorization="Bearer x")
    with pytest.raises(AuthenticationError):
        await auth.authenticate(peercert={"subject": ((("organizationName", "x"),),)}, authorization="Bearer x")
    # a subject that cannot be a dict key (not one ssl made) still authenticates
    listed = {"subject": [[("commonName", "carol")]]}
    assert await auth.authenticate(peercert=listed, authorization=None) == UserInfo(
        "carol", "", ("system:authenticated",))


async def test_remembered_certificate_users_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(authentication, "CERTIFICATE_USERS_REMEMBERED", 3)
    auth = Authenticator()
    for i in range(10):
        user = await auth.authenticate(peercert=peercert(f"u{i}"), authorization=None)
        assert user is not None and user.name == f"u{i}"
        assert len(auth._certificate_users) <= 3
