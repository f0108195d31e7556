"""Encryption at rest: an ``EncryptionConfiguration`` and the store wrapper that applies it.

Design
------
Upstream's format (``--encryption-provider-config``, ``apiserver.config.k8s.io/v1``
``EncryptionConfiguration``): for each listed resource (``secrets`` by default) an ordered list of
providers; the *first* encrypts every write, *all* are tried on reads, so keys can be rotated by
putting a new key first and re-writing the objects. Stored values carry upstream's prefix:

* ``aesgcm``: ``k8s:enc:aesgcm:v1:<key name>:`` + 12-byte random nonce + AES-GCM ciphertext and tag,
  with the storage key as additional authenticated data (a value copied under another key fails);
* ``aescbc``: ``k8s:enc:aescbc:v1:<key name>:`` + 16-byte IV + AES-CBC ciphertext, PKCS#7 padded;
* ``secretbox``: ``k8s:enc:secretbox:v1:<key name>:`` + 24-byte random nonce + NaCl secretbox
  (XSalsa20-Poly1305) of the value with a 32-byte key (libsodium through PyNaCl);
* ``identity``: the plain value (reads of values written before encryption was turned on).

``kms`` is refused with a clear message: kubelite has no KMS plugin client. When no configuration is
given, ``kubelite server`` generates ``<data-dir>/server/cred/encryption-config.json`` (mode 0600)
with one random AES-256 aesgcm key followed by identity, so Secrets are encrypted from the first start
on SQLite and etcd alike.

``EncryptingStore`` wraps any ``Store``: values under the configured resources' key prefixes are
transformed on every write and read (get, list, watch events, write results); everything else passes
through untouched. A value no provider can read is an error naming the key, never garbage.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import os
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import nacl.exceptions
import nacl.secret
import yaml
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kubelite.controlplane.auth.pki import write_file_atomically
from kubelite.controlplane.storage import KeyValue, ListResult, Store, WatchEvent

PREFIX: Final = b"k8s:enc:"
KEY_SIZES: Final = (16, 24, 32)
# resource name (as in the configuration) -> storage key prefix
RESOURCE_PREFIXES: Final = {"secrets": "/core/secrets/", "configmaps": "/core/configmaps/"}


class EncryptionConfigError(ValueError):
    """The configuration cannot be used; the message names the file and the field."""


class DecryptionError(Exception):
    """A stored value that no configured provider can read."""


@dataclass(frozen=True)
class Provider:
    kind: str  # aesgcm | aescbc | secretbox | identity
    name: str = ""
    key: bytes = b""

    @property
    def prefix(self) -> bytes:
        return PREFIX + f"{self.kind}:v1:{self.name}:".encode()

    def encrypt(self, storage_key: str, value: bytes) -> bytes:
        if self.kind == "identity":
            return value
        if self.kind == "aesgcm":
            nonce = os.urandom(12)
            return self.prefix + nonce + AESGCM(self.key).encrypt(nonce, value, storage_key.encode())
        if self.kind == "secretbox":
            # upstream seals with a fresh 24-byte nonce and stores nonce + box; no additional data
            return self.prefix + bytes(nacl.secret.SecretBox(self.key).encrypt(value, os.urandom(24)))
        iv = os.urandom(16)
        padder = padding.PKCS7(128).padder()
        encryptor = Cipher(algorithms.AES(self.key), modes.CBC(iv)).encryptor()
        return self.prefix + iv + encryptor.update(padder.update(value) + padder.finalize()) + encryptor.finalize()

    def decrypt(self, storage_key: str, value: bytes) -> bytes:
        body = value[len(self.prefix):]
        if self.kind == "aesgcm":
            return AESGCM(self.key).decrypt(body[:12], body[12:], storage_key.encode())
        if self.kind == "secretbox":
            return nacl.secret.SecretBox(self.key).decrypt(body[24:], body[:24])
        decryptor = Cipher(algorithms.AES(self.key), modes.CBC(body[:16])).decryptor()
        unpadder = padding.PKCS7(128).unpadder()
        return unpadder.update(decryptor.update(body[16:]) + decryptor.finalize()) + unpadder.finalize()


@dataclass(frozen=True)
class Transformer:
    """The providers of one resource, in order."""

    providers: tuple[Provider, ...]

    def to_storage(self, key: str, value: bytes) -> bytes:
        return self.providers[0].encrypt(key, value)

    def from_storage(self, key: str, value: bytes) -> bytes:
        if value.startswith(PREFIX):
            for provider in self.providers:
                if provider.kind != "identity" and value.startswith(provider.prefix):
                    try:
                        return provider.decrypt(key, value)
                    except Exception as exc:  # wrong key, tampered value, bad padding
                        raise DecryptionError(f"{key}: cannot decrypt with key {provider.name!r} "
                                              f"({type(exc).__name__})") from None
            raise DecryptionError(f"{key}: encrypted with a provider or key that is not configured "
                                  f"({value[:40].decode(errors='replace')}...)")
        if any(p.kind == "identity" for p in self.providers):
            return value
        raise DecryptionError(f"{key}: stored unencrypted, and the identity provider is not configured")


def _key(entry: Any, *, where: str, sizes: tuple[int, ...] = KEY_SIZES, what: str = "an AES key is 16, 24 or 32 bytes"
         ) -> tuple[str, bytes]:
    if not isinstance(entry, dict) or not entry.get("name") or not entry.get("secret"):
        raise EncryptionConfigError(f"{where}: each key needs a name and a base64 secret")
    try:
        secret = base64.b64decode(str(entry["secret"]), validate=True)
    except binascii.Error:
        raise EncryptionConfigError(f"{where}: key {entry['name']!r}: secret is not valid base64") from None
    if len(secret) not in sizes:
        raise EncryptionConfigError(f"{where}: key {entry['name']!r}: {what}, got {len(secret)}")
    return str(entry["name"]), secret


def parse_config(text: str, *, source: str = "encryption configuration") -> dict[str, Transformer]:
    """resource name -> Transformer, from YAML or JSON text."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise EncryptionConfigError(f"{source}: not YAML or JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("kind") != "EncryptionConfiguration":
        raise EncryptionConfigError(f"{source}: kind must be EncryptionConfiguration")
    if doc.get("apiVersion") not in ("apiserver.config.k8s.io/v1", "apiserver.config.k8s.io/v1beta1"):
        raise EncryptionConfigError(f"{source}: apiVersion must be apiserver.config.k8s.io/v1")
    out: dict[str, Transformer] = {}
    for index, entry in enumerate(doc.get("resources") or []):
        where = f"{source}: resources[{index}]"
        resources = entry.get("resources") if isinstance(entry, dict) else None
        if not resources:
            raise EncryptionConfigError(f"{where}.resources: Required value")
        providers: list[Provider] = []
        for p_index, spec in enumerate(entry.get("providers") or []):
            p_where = f"{where}.providers[{p_index}]"
            if not isinstance(spec, dict) or len(spec) != 1:
                raise EncryptionConfigError(f"{p_where}: exactly one provider per entry")
            kind, body = next(iter(spec.items()))
            if kind == "identity":
                providers.append(Provider("identity"))
            elif kind in ("aesgcm", "aescbc", "secretbox"):
                keys = (body or {}).get("keys") if isinstance(body, dict) else None
                if not keys:
                    raise EncryptionConfigError(f"{p_where}.{kind}.keys: Required value")
                sizes, what = ((32,), "a secretbox key is 32 bytes") if kind == "secretbox" else \
                    (KEY_SIZES, "an AES key is 16, 24 or 32 bytes")
                for k_index, key_entry in enumerate(keys):
                    name, secret = _key(key_entry, where=f"{p_where}.{kind}.keys[{k_index}]", sizes=sizes,
                                        what=what)
                    providers.append(Provider(kind, name, secret))
            elif kind == "kms":
                raise EncryptionConfigError(f"{p_where}: the kms provider is not supported by kubelite; "
                                            "use aesgcm, aescbc or secretbox")
            else:
                raise EncryptionConfigError(f"{p_where}: unknown provider {kind!r}; supported: aesgcm, aescbc, "
                                            "secretbox, identity")
        if not providers:
            raise EncryptionConfigError(f"{where}.providers: Required value")
        for resource in resources:
            name = str(resource)
            if name not in RESOURCE_PREFIXES:
                raise EncryptionConfigError(f"{where}.resources: {resource!r} is not supported; supported: "
                                            f"{', '.join(RESOURCE_PREFIXES)}")
            out.setdefault(name, Transformer(tuple(providers)))
    return out


def load_config(path: Path) -> dict[str, Transformer]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise EncryptionConfigError(f"{path}: {exc.strerror or exc}") from None
    return parse_config(text, source=str(path))


def ensure_default_config(path: Path) -> dict[str, Transformer]:
    """The generated configuration (one aesgcm key, then identity), created on first use."""
    if not path.exists():
        doc = {"kind": "EncryptionConfiguration", "apiVersion": "apiserver.config.k8s.io/v1",
               "resources": [{"resources": ["secrets"], "providers": [
                   {"aesgcm": {"keys": [{"name": "aesgcmkey",
                                         "secret": base64.b64encode(os.urandom(32)).decode()}]}},
                   {"identity": {}}]}]}
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_file_atomically(path, json.dumps(doc, indent=2).encode(), mode=0o600)
    return load_config(path)


class EncryptingStore:
    """A ``Store`` that encrypts the values of the configured resources."""

    def __init__(self, inner: Store, transformers: dict[str, Transformer]) -> None:
        self.inner = inner
        self.by_prefix: Sequence[tuple[str, Transformer]] = [
            (RESOURCE_PREFIXES[name], t) for name, t in transformers.items()]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _transformer(self, key: str) -> Transformer | None:
        for prefix, transformer in self.by_prefix:
            if key.startswith(prefix):
                return transformer
        return None

    def _out(self, kv: KeyValue | None) -> KeyValue | None:
        if kv is None:
            return None
        transformer = self._transformer(kv.key)
        if transformer is None or not kv.value:
            return kv
        return dataclasses.replace(kv, value=transformer.from_storage(kv.key, kv.value))

    def _out_kv(self, kv: KeyValue) -> KeyValue:
        out = self._out(kv)
        assert out is not None
        return out

    def _in(self, key: str, value: bytes) -> bytes:
        transformer = self._transformer(key)
        return transformer.to_storage(key, value) if transformer is not None else value

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        await self.inner.close()

    async def get(self, key: str) -> KeyValue | None:
        return self._out(await self.inner.get(key))

    async def list(self, prefix: str, *, start_key: str | None = None, limit: int = 0,
                   revision: int = 0) -> ListResult:
        result = await self.inner.list(prefix, start_key=start_key, limit=limit, revision=revision)
        return dataclasses.replace(result, items=[self._out_kv(kv) for kv in result.items])

    async def count(self, prefix: str) -> int:
        return await self.inner.count(prefix)

    async def create(self, key: str, value: bytes, *, ttl_seconds: int | None = None) -> KeyValue:
        stored = self._in(key, value)
        kv = await self.inner.create(key, stored, ttl_seconds=ttl_seconds)
        # a value stored as given comes back as is (the SQLite store returns the very bytes it was given)
        return kv if stored is value and kv.value is value else dataclasses.replace(kv, value=value)

    async def update(self, key: str, value: bytes, *, expected_revision: int,
                     ttl_seconds: int | None = None) -> KeyValue:
        stored = self._in(key, value)
        kv = await self.inner.update(key, stored, expected_revision=expected_revision, ttl_seconds=ttl_seconds)
        return kv if stored is value and kv.value is value else dataclasses.replace(kv, value=value)

    async def delete(self, key: str, *, expected_revision: int | None = None) -> KeyValue:
        return self._out_kv(await self.inner.delete(key, expected_revision=expected_revision))

    async def watch(self, prefix: str, *, after_revision: int) -> AsyncGenerator[WatchEvent, None]:
        stream = self.inner.watch(prefix, after_revision=after_revision)
        try:
            async for event in stream:
                if self._transformer(event.kv.key) is None:
                    yield event  # not an encrypted resource: the values are stored as they are
                else:
                    yield WatchEvent(event.type, self._out_kv(event.kv), self._out(event.prev_kv))
        finally:
            await stream.aclose()

    async def current_revision(self) -> int:
        return await self.inner.current_revision()

    async def compact(self, revision: int) -> None:
        await self.inner.compact(revision)
