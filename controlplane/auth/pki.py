"""The cluster PKI: the CAs, certificates and keys a kubelite server creates at first start.

Design
------
Like k3s, the server keeps its PKI in ``<data-dir>/server/tls/`` (mode 0700), one PEM file per object:

* ``server-ca.crt`` / ``.key``: the CA that signs serving certificates (clients trust it);
* ``client-ca.crt`` / ``.key``: the CA that signs client certificates (the API server trusts it);
* ``serving-kube-apiserver.crt`` / ``.key``: the API server's serving certificate (``serverAuth``);
* ``client-admin.crt`` / ``.key``: ``CN=system:admin, O=system:masters`` (``clientAuth``);
* ``service.key`` / ``service.pub``: the ServiceAccount token signing key pair (RSA 2048, as k3s).

Keys are ECDSA P-256 in SEC1 ``EC PRIVATE KEY`` PEM (what k3s writes). CAs are valid 10 years, leaf
certificates 1 year; issued certificate files hold the leaf followed by its CA (as k3s writes them),
so a server presents the whole chain and a kubeconfig carries it.

:func:`ensure_pki` is idempotent and runs at every start. It first *reads and checks every existing
file*, and only then writes, so a corrupt file (:class:`PKIError` naming it) changes nothing.

* CAs are created only when both of their files are absent and are never replaced silently: a CA with
  one file missing, a key that does not match its certificate, a certificate that is not a CA, or an
  expired CA is an error the operator must resolve, because replacing a CA invalidates every
  kubeconfig and every node's trust.
* Leaf certificates are ours to re-issue, and are re-issued from the same CA when missing, when their
  key does not match, when they were not signed by the current CA (an operator put in a new CA),
  when their subject or extended key usage differs from what kubelite issues, when the serving
  certificate's SANs do not cover the requested names/IPs, or when they expire within 90 days (k3s's
  ``CertificateRenewDays``). Re-issuing **generates a new key** (as k3s does when it re-issues), so
  a leaked leaf key stops working after a renewal or :meth:`ClusterPKI.rotate`. Callers rewrite the
  kubeconfigs built from a leaf when :attr:`ClusterPKI.changed` names it.
* A leaf never outlives its CA: its ``notAfter`` is capped at the CA's, and an expiring leaf whose
  renewal could not reach further is left alone rather than re-issued at every start.

Writes are atomic: each file is staged in a temporary file in the same directory (mode set, data
fsynced), then renamed over the target, key before certificate, and the directory is fsynced. A crash
between the two renames leaves a key that does not match its certificate; for a leaf the next start
simply re-issues it, for a CA it is reported (it cannot be told apart from a real mismatch).

For HA, a joining server can place the cluster's CA files (and ``service.key``) into ``tls_dir`` before
calling :func:`ensure_pki`: existing CAs are used as they are and only the leaves are issued locally.

:meth:`ClusterPKI.sign_csr` is the signer behind the ``certificates.k8s.io`` CSR flow and follows
upstream's local signer: it verifies the request's signature, copies its subject and SANs, drops any
other requested extension, sets key usage / extended key usage from the Kubernetes usage strings and
caps the lifetime at the CA's. Which signer (``signerName``) may sign which usages is policy for the
CSR controller, not for this module.

Errors the operator or an API user can cause (files, SANs, CSRs, usages) raise :class:`PKIError` with a
message that names the file or field; a naive ``now`` is a programming error (``ValueError``).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal, NamedTuple, TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificatePublicKeyTypes,
    PrivateKeyTypes,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_Ext = TypeVar("_Ext", bound=x509.ExtensionType)
SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

SERVER_CA_CERT: Final = "server-ca.crt"
SERVER_CA_KEY: Final = "server-ca.key"
CLIENT_CA_CERT: Final = "client-ca.crt"
CLIENT_CA_KEY: Final = "client-ca.key"
SERVING_CERT: Final = "serving-kube-apiserver.crt"
SERVING_KEY: Final = "serving-kube-apiserver.key"
ADMIN_CERT: Final = "client-admin.crt"
ADMIN_KEY: Final = "client-admin.key"
SERVICE_KEY: Final = "service.key"
SERVICE_PUB: Final = "service.pub"
ALL_FILES: Final = (
    SERVER_CA_CERT, SERVER_CA_KEY, CLIENT_CA_CERT, CLIENT_CA_KEY, SERVING_CERT, SERVING_KEY,
    ADMIN_CERT, ADMIN_KEY, SERVICE_KEY, SERVICE_PUB,
)

DIR_MODE: Final = 0o700
KEY_MODE: Final = 0o600
CERT_MODE: Final = 0o644

CA_VALIDITY: Final = dt.timedelta(days=3650)
LEAF_VALIDITY_DAYS: Final = 365
RENEW_BEFORE: Final = dt.timedelta(days=90)
# Servers and agents in one cluster never have perfectly synchronised clocks; certificates we issue
# ourselves start an hour early (dynamiclistener's CalculateNotBefore) so a node whose clock lags
# does not reject a certificate issued a moment ago.
CLOCK_SKEW_BACKDATE: Final = dt.timedelta(hours=1)
# Upstream's CSR signer backdates by 5 minutes; keep its behaviour for certificates it would sign.
CSR_BACKDATE: Final = dt.timedelta(minutes=5)
SERVICE_ACCOUNT_RSA_BITS: Final = 2048

DEFAULT_SERVING_DNS_NAMES: Final = (
    "localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)
DEFAULT_SERVING_IPS: Final = (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))

# Signer names of certificates.k8s.io and the CA behind each, as k3s wires the controller-manager's
# --cluster-signing-*-cert-file flags: client certificates from the client CA, serving from the server CA.
SIGNER_CAS: Final[dict[str, Literal["client", "server"]]] = {
    "kubernetes.io/kube-apiserver-client": "client",
    "kubernetes.io/kube-apiserver-client-kubelet": "client",
    "kubernetes.io/kubelet-serving": "server",
    "kubernetes.io/legacy-unknown": "server",
}

# Kubernetes usage strings (certificates.k8s.io/v1 KeyUsage) mapped as upstream's
# pkg/controller/certificates/authority/policies.go maps them.
_KEY_USAGE_FLAGS: Final[dict[str, str]] = {
    "signing": "digital_signature",
    "digital signature": "digital_signature",
    "content commitment": "content_commitment",
    "key encipherment": "key_encipherment",
    "key agreement": "key_agreement",
    "data encipherment": "data_encipherment",
    "cert sign": "key_cert_sign",
    "crl sign": "crl_sign",
    "encipher only": "encipher_only",
    "decipher only": "decipher_only",
}
# In Go's x509.ExtKeyUsage order, which is the order upstream writes them in.
_EXT_KEY_USAGES: Final[dict[str, ObjectIdentifier]] = {
    "any": ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
    "server auth": ExtendedKeyUsageOID.SERVER_AUTH,
    "client auth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "code signing": ExtendedKeyUsageOID.CODE_SIGNING,
    "email protection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "s/mime": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "ipsec end system": ObjectIdentifier("1.3.6.1.5.5.7.3.5"),
    "ipsec tunnel": ObjectIdentifier("1.3.6.1.5.5.7.3.6"),
    "ipsec user": ObjectIdentifier("1.3.6.1.5.5.7.3.7"),
    "timestamping": ExtendedKeyUsageOID.TIME_STAMPING,
    "ocsp signing": ExtendedKeyUsageOID.OCSP_SIGNING,
    "microsoft sgc": ObjectIdentifier("1.3.6.1.4.1.311.10.3.3"),
    "netscape sgc": ObjectIdentifier("2.16.840.1.113730.4.1"),
}
_EKU_ORDER: Final = tuple(dict.fromkeys(_EXT_KEY_USAGES.values()))
KUBERNETES_USAGES: Final = tuple(_KEY_USAGE_FLAGS) + tuple(_EXT_KEY_USAGES)

_DNS_LABEL = r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?"
_DNS_NAME_RE: Final = re.compile(rf"^(?:\*\.)?{_DNS_LABEL}(?:\.{_DNS_LABEL})*$")


class ServingSANs(NamedTuple):
    """The subject alternative names of the API serving certificate, built-ins first."""

    dns_names: tuple[str, ...]
    ip_addresses: tuple[IPAddress, ...]


class PKIError(Exception):
    """A problem a user can fix: a file (``path``) or an input value, explained in the message."""

    def __init__(self, message: str, *, path: Path | None = None) -> None:
        super().__init__(f"{path}: {message}" if path is not None else message)
        self.path = path


# --------------------------------------------------------------------------------------------------
# Inputs


def serving_subject_alt_names(*, dns_names: Sequence[str], ip_addresses: Sequence[str]) -> ServingSANs:
    """The SANs of the API serving certificate: the built-in names followed by the requested ones.

    DNS names are lower-cased and must be RFC 1123 names (a leading ``*.`` wildcard is allowed); IPs
    are normalised (``::0:1`` is ``::1``). Duplicates are dropped, first occurrence kept.
    """
    if isinstance(dns_names, str) or isinstance(ip_addresses, str):
        raise PKIError("dns_names and ip_addresses must be lists of strings, not a single string")
    dns: dict[str, None] = dict.fromkeys(DEFAULT_SERVING_DNS_NAMES)
    for index, raw in enumerate(dns_names):
        name = raw.strip().lower().rstrip(".")
        if is_ip(name):
            raise PKIError(f"dns_names[{index}] {raw!r} is an IP address; pass it in ip_addresses")
        if len(name) > 253 or not _DNS_NAME_RE.match(name):
            raise PKIError(
                f"dns_names[{index}] {raw!r} is not a valid DNS name: use lower-case letters, digits, '-' "
                "and '.', labels of at most 63 characters, at most 253 in all (a leading '*.' is allowed)"
            )
        dns[name] = None
    ips: dict[IPAddress, None] = dict.fromkeys(DEFAULT_SERVING_IPS)
    for index, raw in enumerate(ip_addresses):
        try:
            ips[ipaddress.ip_address(raw.strip())] = None
        except ValueError:
            raise PKIError(f"ip_addresses[{index}] {raw!r} is not an IPv4 or IPv6 address")
    return ServingSANs(dns_names=tuple(dns), ip_addresses=tuple(ips))


def is_ip(text: str) -> bool:
    """Whether ``text`` is an IPv4 or IPv6 address (a SAN goes in ip_addresses, not dns_names)."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _aware_now(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        return dt.datetime.now(dt.UTC)
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime (e.g. datetime.now(UTC))")
    return now.astimezone(dt.UTC)


def _check_days(days: int, *, field: str = "days") -> None:
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise PKIError(f"{field} must be a whole number of days >= 1, got {days!r}")


def key_usages_from_strings(
    usages: Sequence[str],
) -> tuple[x509.KeyUsage | None, tuple[ObjectIdentifier, ...]]:
    """Translate Kubernetes usage strings to a KeyUsage (``None`` when no bit is set) and EKU OIDs.

    Mirrors upstream ``keyUsagesFromStrings``: EKUs are de-duplicated and sorted in Go's order.
    """
    if isinstance(usages, str):
        raise PKIError(f"usages must be a list of strings such as ['client auth'], not the string {usages!r}")
    if not usages:
        raise PKIError(f"usages must name at least one usage; allowed values: {', '.join(KUBERNETES_USAGES)}")
    flags: set[str] = set()
    ekus: set[ObjectIdentifier] = set()
    unknown: list[str] = []
    for usage in usages:
        if usage in _KEY_USAGE_FLAGS:
            flags.add(_KEY_USAGE_FLAGS[usage])
        elif usage in _EXT_KEY_USAGES:
            ekus.add(_EXT_KEY_USAGES[usage])
        else:
            unknown.append(usage)
    if unknown:
        raise PKIError(
            f"unrecognized usage values: {', '.join(repr(u) for u in unknown)}; "
            f"allowed values: {', '.join(KUBERNETES_USAGES)}"
        )
    key_usage: x509.KeyUsage | None = None
    if flags:
        try:
            key_usage = x509.KeyUsage(
                digital_signature="digital_signature" in flags,
                content_commitment="content_commitment" in flags,
                key_encipherment="key_encipherment" in flags,
                data_encipherment="data_encipherment" in flags,
                key_agreement="key_agreement" in flags,
                key_cert_sign="key_cert_sign" in flags,
                crl_sign="crl_sign" in flags,
                encipher_only="encipher_only" in flags,
                decipher_only="decipher_only" in flags,
            )
        except ValueError:
            # X.509 defines encipherOnly/decipherOnly only as qualifiers of keyAgreement.
            raise PKIError("usages 'encipher only' and 'decipher only' require 'key agreement' as well")
    return key_usage, tuple(oid for oid in _EKU_ORDER if oid in ekus)


# --------------------------------------------------------------------------------------------------
# Files


def write_file_atomically(path: Path, data: bytes, *, mode: int) -> None:
    """Replace ``path`` with ``data`` (file mode ``mode``) so readers see the old or the new file, never
    a mix. Raises ``OSError``."""
    _commit_files([(path, data, mode)])


def _stage(path: Path, data: bytes, mode: int) -> Path:
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        # fchmod, not the umask-dependent creation mode, decides the final mode.
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _commit_files(files: Sequence[tuple[Path, bytes, int]]) -> None:
    """Stage every file, then rename them in the given order (keys before certificates)."""
    staged: list[tuple[Path, Path]] = []
    try:
        for path, data, mode in files:
            staged.append((_stage(path, data, mode), path))
        for tmp, path in staged:
            os.replace(tmp, path)
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
    for directory in {path.parent for path, _, _ in files}:
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _write(files: Sequence[tuple[Path, bytes, int]]) -> None:
    try:
        _commit_files(files)
    except OSError as exc:
        where = Path(exc.filename) if exc.filename else files[0][0]
        raise PKIError(f"cannot write: {exc.strerror or exc}", path=where)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise PKIError(f"cannot read: {exc.strerror or exc}", path=path)


def _load_certs(path: Path) -> list[x509.Certificate]:
    data = _read(path)
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise PKIError(
            f"not a valid PEM certificate file ({exc}); restore it from a backup or remove it "
            "(a removed CA is only re-created when its key is removed too)",
            path=path,
        )
    return certs


def _load_private_key(path: Path) -> PrivateKeyTypes:
    data = _read(path)
    try:
        return serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise PKIError(f"not a valid unencrypted PEM private key ({exc}); restore it or remove it", path=path)


def _prepare_dir(tls_dir: Path) -> None:
    try:
        tls_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        # The directory may predate us with looser permissions; it holds private keys.
        os.chmod(tls_dir, DIR_MODE)
    except FileExistsError:
        raise PKIError("exists and is not a directory", path=tls_dir)
    except OSError as exc:
        raise PKIError(f"cannot create the TLS directory: {exc.strerror or exc}", path=tls_dir)
    # Temporary files left by a crash in the middle of a write are never valid content.
    for name in ALL_FILES:
        for stale in tls_dir.glob(f".{name}.*.tmp"):
            stale.unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------------
# Keys and certificates


def _spki(public_key: CertificatePublicKeyTypes) -> bytes:
    """The DER SubjectPublicKeyInfo: equal bytes mean the same key, whatever its type."""
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _private_spki(key: PrivateKeyTypes) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _new_leaf_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _private_key_pem(key: SigningKey) -> bytes:
    # TraditionalOpenSSL gives "EC PRIVATE KEY" / "RSA PRIVATE KEY", the blocks k3s and client-go write.
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def _cert_pem(*certs: x509.Certificate) -> bytes:
    return b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in certs)


def _subject(common_name: str, organizations: Sequence[str]) -> x509.Name:
    # Go's pkix.Name order (O before CN), so our subjects print like upstream's.
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def _common_name(cert: x509.Certificate) -> str:
    values = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else ""


def _organizations(cert: x509.Certificate) -> list[str]:
    return sorted(str(attr.value) for attr in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME))


def _extension(cert: x509.Certificate, kind: type[_Ext]) -> _Ext | None:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


@dataclass(frozen=True, slots=True)
class _CA:
    path: Path
    chain: tuple[x509.Certificate, ...]
    key: SigningKey

    @property
    def cert(self) -> x509.Certificate:
        return self.chain[0]

    def not_after(self, *, now: dt.datetime, days: int) -> dt.datetime:
        """``now + days``, capped at the CA's own expiry."""
        limit = self.cert.not_valid_after_utc
        if days > (limit - now).days:
            return limit
        return now + dt.timedelta(days=days)

    def not_before(self, *, now: dt.datetime, backdate: dt.timedelta) -> dt.datetime:
        return max(now - backdate, self.cert.not_valid_before_utc)

    def sign(
        self,
        *,
        subject: x509.Name,
        public_key: CertificatePublicKeyTypes,
        not_before: dt.datetime,
        not_after: dt.datetime,
        key_usage: x509.KeyUsage | None,
        ext_key_usages: Sequence[ObjectIdentifier],
        sans: x509.SubjectAlternativeName | None,
    ) -> x509.Certificate:
        ca_ski = _extension(self.cert, x509.SubjectKeyIdentifier)
        if ca_ski is not None:
            aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski)
        else:
            aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key())
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.cert.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(aki, critical=False)
        )
        if key_usage is not None:
            builder = builder.add_extension(key_usage, critical=True)
        if ext_key_usages:
            builder = builder.add_extension(x509.ExtendedKeyUsage(list(ext_key_usages)), critical=False)
        if sans is not None and len(sans) > 0:
            # RFC 5280 4.2.1.6: the SAN extension is critical when the subject is empty.
            builder = builder.add_extension(sans, critical=len(subject) == 0)
        return builder.sign(self.key, hashes.SHA256())


def _new_ca(*, prefix: str, now: dt.datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _new_leaf_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{prefix}-ca@{int(now.timestamp())}")])
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW_BACKDATE)
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _load_ca(*, cert_path: Path, key_path: Path, now: dt.datetime) -> _CA | None:
    """The CA in these files, ``None`` when both are absent; every other irregularity is an error."""
    has_cert, has_key = cert_path.exists(), key_path.exists()
    if not has_cert and not has_key:
        return None
    if not has_key:
        raise PKIError(
            f"the CA certificate exists but its key {key_path.name} is missing; restore the key from a "
            "backup (kubelite never replaces a CA on its own: every kubeconfig and node trusts it)",
            path=cert_path,
        )
    if not has_cert:
        raise PKIError(
            f"the CA key exists but its certificate {cert_path.name} is missing; restore the certificate "
            "from a backup, or remove the key too to create a new CA (invalidating everything it signed)",
            path=key_path,
        )
    chain = tuple(_load_certs(cert_path))
    key = _load_private_key(key_path)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise PKIError(
            f"unsupported CA key type {type(key).__name__}; use an ECDSA or RSA key", path=key_path
        )
    cert = chain[0]
    constraints = _extension(cert, x509.BasicConstraints)
    if constraints is None or not constraints.ca:
        raise PKIError("the first certificate is not a CA (basicConstraints CA:TRUE missing)", path=cert_path)
    if _private_spki(key) != _spki(cert.public_key()):
        raise PKIError(f"the certificate does not match the private key in {key_path.name}", path=cert_path)
    if cert.not_valid_after_utc <= now:
        raise PKIError(
            f"the CA expired on {cert.not_valid_after_utc.isoformat()}; kubelite does not replace CAs on "
            "its own: install a new CA (certificate and key) deliberately",
            path=cert_path,
        )
    if cert.not_valid_after_utc - now <= RENEW_BEFORE:
        log.warning("CA %s expires on %s; certificates it signs cannot outlive it", cert_path,
                    cert.not_valid_after_utc.isoformat())
    return _CA(path=cert_path, chain=chain, key=key)


@dataclass(frozen=True, slots=True)
class _LeafSpec:
    """What kubelite puts into one of its own leaf certificates."""

    cert_name: str
    key_name: str
    common_name: str
    organizations: tuple[str, ...]
    signer: Literal["server", "client"]

    @property
    def ext_key_usage(self) -> ObjectIdentifier:
        return ExtendedKeyUsageOID.SERVER_AUTH if self.signer == "server" else ExtendedKeyUsageOID.CLIENT_AUTH


_SERVING = _LeafSpec(SERVING_CERT, SERVING_KEY, "kube-apiserver", (), "server")
_ADMIN = _LeafSpec(ADMIN_CERT, ADMIN_KEY, "system:admin", ("system:masters",), "client")
_LEAVES: Final = (_SERVING, _ADMIN)

# Leaf keys are only used for signatures (ECDSA); keyEncipherment is meaningless for EC keys (RFC 5480).
_LEAF_KEY_USAGE: Final = x509.KeyUsage(
    digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
    key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False,
)


@dataclass(frozen=True, slots=True)
class _Leaf:
    cert: x509.Certificate
    key: PrivateKeyTypes


def _load_leaf(tls_dir: Path, spec: _LeafSpec) -> _Leaf | None:
    """The leaf's certificate and key; ``None`` when one is missing. Unparseable files are errors."""
    cert_path, key_path = tls_dir / spec.cert_name, tls_dir / spec.key_name
    cert = _load_certs(cert_path)[0] if cert_path.exists() else None
    key = _load_private_key(key_path) if key_path.exists() else None
    if cert is None or key is None:
        return None
    return _Leaf(cert=cert, key=key)


def _renewal_reason(
    *,
    leaf: _Leaf | None,
    spec: _LeafSpec,
    ca: _CA,
    sans: ServingSANs,
    now: dt.datetime,
) -> str | None:
    """Why the leaf must be (re-)issued, or ``None`` when it is fine as it is."""
    if leaf is None:
        return "it does not exist"
    cert = leaf.cert
    if _private_spki(leaf.key) != _spki(cert.public_key()):
        return "its key does not match the certificate"
    try:
        cert.verify_directly_issued_by(ca.cert)
    except (ValueError, TypeError, InvalidSignature):
        return f"it was not issued by the current CA in {ca.path.name}"
    if _common_name(cert) != spec.common_name or _organizations(cert) != sorted(spec.organizations):
        return "its subject differs from what kubelite issues"
    ekus = _extension(cert, x509.ExtendedKeyUsage)
    if ekus is None or list(ekus) != [spec.ext_key_usage]:
        return "its extended key usage differs from what kubelite issues"
    if spec.signer == "server":
        present = _extension(cert, x509.SubjectAlternativeName)
        have_dns = {n.lower() for n in present.get_values_for_type(x509.DNSName)} if present else set()
        have_ips = set(present.get_values_for_type(x509.IPAddress)) if present else set()
        missing = [n for n in sans.dns_names if n not in have_dns]
        missing += [str(ip) for ip in sans.ip_addresses if ip not in have_ips]
        if missing:
            return f"its SANs do not cover {', '.join(missing)}"
    remaining = cert.not_valid_after_utc - now
    # Renew only when it helps: a leaf already capped at its CA's expiry would be re-issued identically.
    renewed_until = ca.not_after(now=now, days=LEAF_VALIDITY_DAYS)
    if remaining <= RENEW_BEFORE and renewed_until > cert.not_valid_after_utc:
        return f"it expires within {RENEW_BEFORE.days} days (on {cert.not_valid_after_utc.isoformat()})"
    return None


def _san_extension(sans: ServingSANs) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = [x509.DNSName(name) for name in sans.dns_names]
    names += [x509.IPAddress(ip) for ip in sans.ip_addresses]
    return x509.SubjectAlternativeName(names)


def _issue_leaf(
    *,
    tls_dir: Path,
    spec: _LeafSpec,
    ca: _CA,
    sans: ServingSANs,
    now: dt.datetime,
    reason: str,
) -> tuple[str, str]:
    key = _new_leaf_key()
    cert = ca.sign(
        subject=_subject(spec.common_name, spec.organizations),
        public_key=key.public_key(),
        not_before=ca.not_before(now=now, backdate=CLOCK_SKEW_BACKDATE),
        not_after=ca.not_after(now=now, days=LEAF_VALIDITY_DAYS),
        key_usage=_LEAF_KEY_USAGE,
        ext_key_usages=[spec.ext_key_usage],
        sans=_san_extension(sans) if spec.signer == "server" else None,
    )
    _write([
        (tls_dir / spec.key_name, _private_key_pem(key), KEY_MODE),
        (tls_dir / spec.cert_name, _cert_pem(cert, *ca.chain), CERT_MODE),
    ])
    log.info("issued %s (CN=%s, signed by %s, valid until %s) because %s", spec.cert_name, spec.common_name,
             ca.path.name, cert.not_valid_after_utc.isoformat(), reason)
    return spec.key_name, spec.cert_name


def _create_ca(*, tls_dir: Path, cert_name: str, key_name: str, prefix: str, now: dt.datetime) -> _CA:
    cert, key = _new_ca(prefix=prefix, now=now)
    _write([
        (tls_dir / key_name, _private_key_pem(key), KEY_MODE),
        (tls_dir / cert_name, _cert_pem(cert), CERT_MODE),
    ])
    log.info("created CA %s (CN=%s, valid until %s)", cert_name, _common_name(cert),
             cert.not_valid_after_utc.isoformat())
    return _CA(path=tls_dir / cert_name, chain=(cert,), key=key)


def _load_service_key(path: Path) -> SigningKey | None:
    if not path.exists():
        return None
    key = _load_private_key(path)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise PKIError(
            f"unsupported ServiceAccount signing key type {type(key).__name__}; use an RSA or ECDSA key",
            path=path,
        )
    return key


def _public_pem(key: SigningKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


# --------------------------------------------------------------------------------------------------
# The public API


@dataclass(frozen=True, slots=True)
class ClusterPKI:
    """The PKI in ``tls_dir``: file paths plus the operations that need the CAs.

    ``dns_names``/``ip_addresses`` are the serving certificate's full SAN lists (built-ins included);
    ``changed`` names the files :func:`ensure_pki` wrote in the call that returned this object.
    """

    tls_dir: Path
    dns_names: tuple[str, ...]
    ip_addresses: tuple[IPAddress, ...]
    changed: tuple[str, ...] = ()

    @property
    def server_ca_cert(self) -> Path:
        return self.tls_dir / SERVER_CA_CERT

    @property
    def server_ca_key(self) -> Path:
        return self.tls_dir / SERVER_CA_KEY

    @property
    def client_ca_cert(self) -> Path:
        return self.tls_dir / CLIENT_CA_CERT

    @property
    def client_ca_key(self) -> Path:
        return self.tls_dir / CLIENT_CA_KEY

    @property
    def serving_cert(self) -> Path:
        return self.tls_dir / SERVING_CERT

    @property
    def serving_key(self) -> Path:
        return self.tls_dir / SERVING_KEY

    @property
    def admin_cert(self) -> Path:
        return self.tls_dir / ADMIN_CERT

    @property
    def admin_key(self) -> Path:
        return self.tls_dir / ADMIN_KEY

    @property
    def service_key(self) -> Path:
        return self.tls_dir / SERVICE_KEY

    @property
    def service_pub(self) -> Path:
        return self.tls_dir / SERVICE_PUB

    def server_ca_pem(self) -> bytes:
        """The server CA certificate(s): what clients put in ``certificate-authority-data``."""
        return _read(self.server_ca_cert)

    def client_ca_pem(self) -> bytes:
        """The client CA certificate(s): what the API server verifies client certificates against."""
        return _read(self.client_ca_cert)

    def _ca(self, which: Literal["server", "client"], now: dt.datetime) -> _CA:
        if which == "server":
            cert_path, key_path = self.server_ca_cert, self.server_ca_key
        else:
            cert_path, key_path = self.client_ca_cert, self.client_ca_key
        ca = _load_ca(cert_path=cert_path, key_path=key_path, now=now)
        if ca is None:
            raise PKIError(f"the {which} CA does not exist; run ensure_pki first", path=cert_path)
        return ca

    def issue_client_cert(
        self,
        *,
        common_name: str,
        organizations: Sequence[str],
        days: int = LEAF_VALIDITY_DAYS,
        now: dt.datetime | None = None,
    ) -> tuple[bytes, bytes]:
        """A new ``clientAuth`` certificate for user ``common_name`` in groups ``organizations``, signed
        by the client CA. Returns (certificate PEM followed by the CA, new ECDSA P-256 key PEM)."""
        moment = _aware_now(now)
        if not common_name.strip():
            raise PKIError("common_name must not be empty: it is the Kubernetes user name")
        if isinstance(organizations, str):
            raise PKIError(f"organizations must be a list of group names, not the string {organizations!r}")
        if any(not org.strip() for org in organizations):
            raise PKIError("organizations must not contain empty group names")
        _check_days(days)
        ca = self._ca("client", moment)
        key = _new_leaf_key()
        cert = ca.sign(
            subject=_subject(common_name, organizations),
            public_key=key.public_key(),
            not_before=ca.not_before(now=moment, backdate=CLOCK_SKEW_BACKDATE),
            not_after=ca.not_after(now=moment, days=days),
            key_usage=_LEAF_KEY_USAGE,
            ext_key_usages=[ExtendedKeyUsageOID.CLIENT_AUTH],
            sans=None,
        )
        return _cert_pem(cert, *ca.chain), _private_key_pem(key)

    def sign_csr(
        self,
        *,
        csr_pem: bytes,
        usages: Sequence[str],
        days: int,
        signer_name: str = "kubernetes.io/kube-apiserver-client",
        now: dt.datetime | None = None,
    ) -> bytes:
        """Sign a PKCS#10 request as upstream's local CSR signer does; returns the certificate PEM alone
        (what goes into a CSR's ``status.certificate``).

        ``signer_name`` picks the CA (see :data:`SIGNER_CAS`); ``usages`` are Kubernetes usage strings
        (:data:`KUBERNETES_USAGES`); the lifetime is ``days``, capped at the CA's.
        """
        moment = _aware_now(now)
        if signer_name not in SIGNER_CAS:
            raise PKIError(f"unknown signerName {signer_name!r}; allowed values: {', '.join(SIGNER_CAS)}")
        key_usage, ext_key_usages = key_usages_from_strings(usages)
        _check_days(days)
        try:
            csr = x509.load_pem_x509_csr(csr_pem)
        except ValueError as exc:
            raise PKIError(f"request: not a PEM 'CERTIFICATE REQUEST' ({exc})")
        try:
            valid = csr.is_signature_valid
            public_key = csr.public_key()
            requested_sans = _csr_sans(csr)
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise PKIError(f"request: cannot be parsed ({exc})")
        if not valid:
            raise PKIError("request: its signature does not verify with its own public key")
        ca = self._ca(SIGNER_CAS[signer_name], moment)
        cert = ca.sign(
            subject=csr.subject,
            public_key=public_key,
            not_before=ca.not_before(now=moment, backdate=CSR_BACKDATE),
            not_after=ca.not_after(now=moment, days=days),
            key_usage=key_usage,
            ext_key_usages=ext_key_usages,
            sans=requested_sans,
        )
        return _cert_pem(cert)

    def rotate(self, *, now: dt.datetime | None = None) -> tuple[str, ...]:
        """Re-issue every leaf certificate with a new key, whatever its expiry (``kubelite certificate
        rotate``). CAs and the ServiceAccount key stay. Returns the names of the files written."""
        moment = _aware_now(now)
        cas = {"server": self._ca("server", moment), "client": self._ca("client", moment)}
        sans = ServingSANs(dns_names=self.dns_names, ip_addresses=self.ip_addresses)
        written: list[str] = []
        for spec in _LEAVES:
            written += _issue_leaf(
                tls_dir=self.tls_dir, spec=spec, ca=cas[spec.signer], sans=sans, now=moment,
                reason="a rotation was requested",
            )
        return tuple(written)


def _csr_sans(csr: x509.CertificateSigningRequest) -> x509.SubjectAlternativeName | None:
    try:
        return csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None


def ensure_pki(
    *,
    tls_dir: Path,
    dns_names: Sequence[str],
    ip_addresses: Sequence[str],
    now: dt.datetime | None = None,
) -> ClusterPKI:
    """Create what is missing in ``tls_dir`` and renew what needs it (see the module docstring).

    ``dns_names``/``ip_addresses`` are the extra SANs of the API serving certificate (``--tls-san``,
    node IPs, the ``kubernetes`` Service IP). Idempotent: with the same inputs, a second call writes
    nothing. Raises :class:`PKIError`; on error nothing has been written.
    """
    moment = _aware_now(now)
    sans = serving_subject_alt_names(dns_names=dns_names, ip_addresses=ip_addresses)
    tls_dir = Path(tls_dir)
    _prepare_dir(tls_dir)

    # Read and check everything before writing anything.
    server_ca = _load_ca(cert_path=tls_dir / SERVER_CA_CERT, key_path=tls_dir / SERVER_CA_KEY, now=moment)
    client_ca = _load_ca(cert_path=tls_dir / CLIENT_CA_CERT, key_path=tls_dir / CLIENT_CA_KEY, now=moment)
    leaves = {spec.cert_name: _load_leaf(tls_dir, spec) for spec in _LEAVES}
    service_key = _load_service_key(tls_dir / SERVICE_KEY)

    changed: list[str] = []
    if server_ca is None:
        server_ca = _create_ca(tls_dir=tls_dir, cert_name=SERVER_CA_CERT, key_name=SERVER_CA_KEY,
                               prefix="kubelite-server", now=moment)
        changed += [SERVER_CA_KEY, SERVER_CA_CERT]
    if client_ca is None:
        client_ca = _create_ca(tls_dir=tls_dir, cert_name=CLIENT_CA_CERT, key_name=CLIENT_CA_KEY,
                               prefix="kubelite-client", now=moment)
        changed += [CLIENT_CA_KEY, CLIENT_CA_CERT]
    cas = {"server": server_ca, "client": client_ca}
    for spec in _LEAVES:
        ca = cas[spec.signer]
        reason = _renewal_reason(leaf=leaves[spec.cert_name], spec=spec, ca=ca, sans=sans, now=moment)
        if reason is not None:
            changed += _issue_leaf(tls_dir=tls_dir, spec=spec, ca=ca, sans=sans, now=moment, reason=reason)

    if service_key is None:
        service_key = rsa.generate_private_key(public_exponent=65537, key_size=SERVICE_ACCOUNT_RSA_BITS)
        _write([(tls_dir / SERVICE_KEY, _private_key_pem(service_key), KEY_MODE)])
        changed.append(SERVICE_KEY)
    # service.pub is derived data: rewrite it whenever it is not exactly the public half of service.key.
    public = _public_pem(service_key)
    pub_path = tls_dir / SERVICE_PUB
    if not pub_path.exists() or _read(pub_path) != public:
        _write([(pub_path, public, KEY_MODE)])
        changed.append(SERVICE_PUB)

    _tighten_key_modes(tls_dir)
    return ClusterPKI(
        tls_dir=tls_dir, dns_names=sans.dns_names, ip_addresses=sans.ip_addresses, changed=tuple(changed)
    )


def _tighten_key_modes(tls_dir: Path) -> None:
    """Private keys copied in by an operator may be group/world readable; fix the mode, not the bytes."""
    for name in (SERVER_CA_KEY, CLIENT_CA_KEY, SERVING_KEY, ADMIN_KEY, SERVICE_KEY, SERVICE_PUB):
        path = tls_dir / name
        try:
            if path.stat().st_mode & 0o777 != KEY_MODE:
                os.chmod(path, KEY_MODE)
        except OSError as exc:
            raise PKIError(f"cannot set mode 0600: {exc.strerror or exc}", path=path)


def rotate_pki(*, tls_dir: Path, now: dt.datetime | None = None) -> tuple[str, ...]:
    """``kubelite certificate rotate``: re-issue every leaf with a new key, keeping the serving
    certificate's current SANs (the next server start adds any it wants on top). CAs stay."""
    tls_dir = Path(tls_dir)
    if not (tls_dir / SERVER_CA_CERT).exists():
        raise PKIError("no cluster PKI here; start `kubelite server` once first", path=tls_dir)
    dns_names: list[str] = []
    ips: list[str] = []
    serving = tls_dir / SERVING_CERT
    if serving.exists():
        sans = _extension(_load_certs(serving)[0], x509.SubjectAlternativeName)
        if sans is not None:
            dns_names = list(sans.get_values_for_type(x509.DNSName))
            ips = [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)]
    pki = ensure_pki(tls_dir=tls_dir, dns_names=dns_names, ip_addresses=ips, now=now)
    return pki.rotate(now=now)
