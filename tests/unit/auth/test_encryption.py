"""EncryptionConfiguration parsing, the aesgcm/aescbc/secretbox/identity providers and key rotation."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from kubelite.controlplane.auth.encryption import (
    DecryptionError,
    EncryptionConfigError,
    ensure_default_config,
    parse_config,
)

KEY1 = base64.b64encode(b"1" * 32).decode()
KEY2 = base64.b64encode(b"2" * 32).decode()


def config(*providers: dict[str, object]) -> str:
    return json.dumps({"apiVersion": "apiserver.config.k8s.io/v1", "kind": "EncryptionConfiguration",
                       "resources": [{"resources": ["secrets"], "providers": list(providers)}]})


@pytest.mark.parametrize("kind", ["aesgcm", "aescbc", "secretbox"])
def test_round_trip_with_upstream_prefix(kind: str) -> None:
    t = parse_config(config({kind: {"keys": [{"name": "k1", "secret": KEY1}]}}))["secrets"]
    stored = t.to_storage("/core/secrets/ns/s", b'{"data":{"password":"aHVudGVyMg=="}}')
    assert stored.startswith(f"k8s:enc:{kind}:v1:k1:".encode())
    assert b"aHVudGVyMg" not in stored
    assert t.from_storage("/core/secrets/ns/s", stored) == b'{"data":{"password":"aHVudGVyMg=="}}'


def test_aesgcm_binds_the_value_to_its_key_and_detects_tampering() -> None:
    t = parse_config(config({"aesgcm": {"keys": [{"name": "k1", "secret": KEY1}]}}))["secrets"]
    stored = t.to_storage("/core/secrets/ns/a", b"value")
    with pytest.raises(DecryptionError, match="cannot decrypt"):
        t.from_storage("/core/secrets/ns/b", stored)
    with pytest.raises(DecryptionError):
        t.from_storage("/core/secrets/ns/a", stored[:-1] + bytes([stored[-1] ^ 1]))


def test_rotation_reads_old_keys_and_plaintext_only_with_identity() -> None:
    old = parse_config(config({"aesgcm": {"keys": [{"name": "k1", "secret": KEY1}]}}))["secrets"]
    written = old.to_storage("/k", b"v")
    rotated = parse_config(config({"aesgcm": {"keys": [{"name": "k2", "secret": KEY2},
                                                       {"name": "k1", "secret": KEY1}]}},
                                  {"identity": {}}))["secrets"]
    assert rotated.from_storage("/k", written) == b"v"
    assert rotated.to_storage("/k", b"v").startswith(b"k8s:enc:aesgcm:v1:k2:")
    assert rotated.from_storage("/k", b"plain") == b"plain"
    with pytest.raises(DecryptionError, match="identity provider is not configured"):
        old.from_storage("/k", b"plain")
    only_new = parse_config(config({"aesgcm": {"keys": [{"name": "k2", "secret": KEY2}]}}))["secrets"]
    with pytest.raises(DecryptionError, match="not configured"):
        only_new.from_storage("/k", written)


@pytest.mark.parametrize(("text", "message"), [
    pytest.param("kind: Other", "kind must be EncryptionConfiguration", id="kind"),
    pytest.param(config({"aesgcm": {"keys": [{"name": "k", "secret": "!!"}]}}), "not valid base64", id="base64"),
    pytest.param(config({"aesgcm": {"keys": [{"name": "k", "secret": base64.b64encode(b"x" * 7).decode()}]}}),
                 "16, 24 or 32 bytes", id="key-size"),
    pytest.param(config({"kms": {"name": "vault"}}), "kms provider is not supported", id="kms"),
    pytest.param(config({"secretbox": {"keys": [{"name": "k", "secret": base64.b64encode(b"x" * 16).decode()}]}}),
                 "a secretbox key is 32 bytes, got 16", id="secretbox-key-size"),
    pytest.param(config({"rot13": {}}), "unknown provider", id="unknown"),
    pytest.param(config(), "providers: Required value", id="no-providers"),
])
def test_bad_configurations_are_refused(text: str, message: str) -> None:
    with pytest.raises(EncryptionConfigError, match=message):
        parse_config(text)


def test_default_config_is_generated_once(tmp_path: Path) -> None:
    path = tmp_path / "cred" / "encryption-config.json"
    first = ensure_default_config(path)
    assert path.stat().st_mode & 0o777 == 0o600
    content = path.read_text()
    second = ensure_default_config(path)
    assert path.read_text() == content
    stored = first["secrets"].to_storage("/k", b"v")
    assert stored.startswith(b"k8s:enc:aesgcm:v1:aesgcmkey:")
    assert second["secrets"].from_storage("/k", stored) == b"v"


def test_secretbox_detects_tampering_and_a_wrong_key() -> None:
    t = parse_config(config({"secretbox": {"keys": [{"name": "k1", "secret": KEY1}]}}))["secrets"]
    stored = t.to_storage("/core/secrets/ns/a", b"value")
    assert len(stored) == len(b"k8s:enc:secretbox:v1:k1:") + 24 + 16 + len(b"value")  # nonce, MAC, ciphertext
    with pytest.raises(DecryptionError, match="cannot decrypt"):
        t.from_storage("/core/secrets/ns/a", stored[:-1] + bytes([stored[-1] ^ 1]))
    other = parse_config(config({"secretbox": {"keys": [{"name": "k1", "secret": KEY2}]}}))["secrets"]
    with pytest.raises(DecryptionError, match="cannot decrypt with key 'k1'"):
        other.from_storage("/core/secrets/ns/a", stored)
