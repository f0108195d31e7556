"""The cluster PKI: chains, SANs, idempotence, renewal, corrupt files, CSR signing and real TLS handshakes."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import ipaddress
import os
import queue
import re
import socket
import ssl
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kubelite.controlplane.auth import pki
from kubelite.controlplane.auth.kubeconfig import kubeconfig_yaml
from kubelite.controlplane.auth.pki import ClusterPKI, PKIError, ensure_pki

_Ext = TypeVar("_Ext", bound=x509.ExtensionType)
T0 = dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=dt.UTC)
LEAF_FILES = (
    "serving-kube-apiserver.crt",
    "serving-kube-apiserver.key",
    "client-admin.crt",
    "client-admin.key",
)
CA_FILES = ("server-ca.crt", "server-ca.key", "client-ca.crt", "client-ca.key")


# ---------------------------------------------------------------------------------------------- helpers


def certs_in(path: Path) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(path.read_bytes())


def leaf(path: Path) -> x509.Certificate:
    return certs_in(path)[0]


def ext(cert: x509.Certificate, kind: type[_Ext]) -> _Ext:
    return cert.extensions.get_extension_for_class(kind).value


def cn(cert: x509.Certificate) -> str:
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def orgs(cert: x509.Certificate) -> list[str]:
    return [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]


def snapshot(directory: Path) -> dict[str, tuple[bytes, int, int, int]]:
    """Every file's bytes, inode, mtime and mode: equal snapshots mean nothing was rewritten."""
    result = {}
    for path in sorted(directory.iterdir()):
        st = path.stat()
        result[path.name] = (path.read_bytes(), st.st_ino, st.st_mtime_ns, stat.S_IMODE(st.st_mode))
    return result


def make(
    tls_dir: Path,
    *,
    dns: tuple[str, ...] = ("node1.example",),
    ips: tuple[str, ...] = ("10.43.0.1",),
    now: dt.datetime = T0,
) -> ClusterPKI:
    return ensure_pki(tls_dir=tls_dir, dns_names=dns, ip_addresses=ips, now=now)


def foreign_ca(common_name: str = "someone-else-ca") -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A self-made CA that has nothing to do with the cluster."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def foreign_client_pair(common_name: str = "system:admin") -> tuple[bytes, bytes]:
    """A clientAuth certificate claiming to be ``common_name``, signed by a foreign CA."""
    ca_cert, ca_key = foreign_ca()
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:masters"),
                    x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                ]
            )
        )
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM) + ca_cert.public_bytes(
        serialization.Encoding.PEM
    ), key_pem


def make_csr(
    *,
    common_name: str = "system:node:n1",
    organizations: tuple[str, ...] = ("system:nodes",),
    dns: tuple[str, ...] = (),
    ips: tuple[str, ...] = (),
    rsa_key: bool = False,
    extra_extension: bool = False,
) -> bytes:
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if rsa_key
        else ec.generate_private_key(ec.SECP256R1())
    )
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attributes))
    if dns or ips:
        names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
        names += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    if extra_extension:
        # A requester asking to become a CA: the signer must drop this.
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> ClusterPKI:
    """One PKI for the tests that only read it (generated at real time, usable for real handshakes)."""
    return ensure_pki(
        tls_dir=tmp_path_factory.mktemp("shared") / "server" / "tls",
        dns_names=["node1.example"],
        ip_addresses=["10.43.0.1", "192.0.2.10"],
    )


# ---------------------------------------------------------------------------------------------- layout


def test_creates_every_file_with_private_modes(tmp_path: Path) -> None:
    tls = tmp_path / "server" / "tls"
    result = make(tls)
    assert stat.S_IMODE(tls.stat().st_mode) == 0o700
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tls.iterdir()}
    assert modes == {
        "server-ca.crt": 0o644,
        "server-ca.key": 0o600,
        "client-ca.crt": 0o644,
        "client-ca.key": 0o600,
        "serving-kube-apiserver.crt": 0o644,
        "serving-kube-apiserver.key": 0o600,
        "client-admin.crt": 0o644,
        "client-admin.key": 0o600,
        "service.key": 0o600,
        "service.pub": 0o600,
    }
    assert set(result.changed) == set(modes)
    assert result.serving_cert == tls / "serving-kube-apiserver.crt"
    assert result.admin_key == tls / "client-admin.key"


def test_existing_loose_directory_and_key_modes_are_tightened(tmp_path: Path) -> None:
    tls = tmp_path / "tls"
    make(tls)
    os.chmod(tls, 0o755)
    os.chmod(tls / "server-ca.key", 0o644)
    make(tls)
    assert stat.S_IMODE(tls.stat().st_mode) == 0o700
    assert stat.S_IMODE((tls / "server-ca.key").stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("cert_name", "prefix"),
    [
        pytest.param("server-ca.crt", "kubelite-server", id="server-ca"),
        pytest.param("client-ca.crt", "kubelite-client", id="client-ca"),
    ],
)
def test_ca_is_a_ten_year_p256_ca_named_with_its_creation_time(
    tmp_path: Path, cert_name: str, prefix: str
) -> None:
    make(tmp_path)
    cert = leaf(tmp_path / cert_name)
    assert cn(cert) == f"{prefix}-ca@{int(T0.timestamp())}"
    assert cert.issuer == cert.subject
    assert ext(cert, x509.BasicConstraints).ca
    assert ext(cert, x509.KeyUsage).key_cert_sign
    assert cert.not_valid_after_utc - T0 == dt.timedelta(days=3650)
    assert cert.not_valid_before_utc <= T0
    public = cert.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name == "secp256r1"
    cert.verify_directly_issued_by(cert)


@pytest.mark.parametrize(
    ("cert_name", "key_name", "ca_name", "other_ca", "common_name", "organizations", "eku"),
    [
        pytest.param(
            "serving-kube-apiserver.crt",
            "serving-kube-apiserver.key",
            "server-ca.crt",
            "client-ca.crt",
            "kube-apiserver",
            [],
            ExtendedKeyUsageOID.SERVER_AUTH,
            id="serving",
        ),
        pytest.param(
            "client-admin.crt",
            "client-admin.key",
            "client-ca.crt",
            "server-ca.crt",
            "system:admin",
            ["system:masters"],
            ExtendedKeyUsageOID.CLIENT_AUTH,
            id="admin",
        ),
    ],
)
def test_leaf_is_signed_by_its_ca_with_the_right_identity_and_usage(
    shared: ClusterPKI,
    cert_name: str,
    key_name: str,
    ca_name: str,
    other_ca: str,
    common_name: str,
    organizations: list[str],
    eku: x509.ObjectIdentifier,
) -> None:
    chain = certs_in(shared.tls_dir / cert_name)
    cert, ca = chain[0], leaf(shared.tls_dir / ca_name)
    # the file carries the chain: leaf, then its CA (as k3s writes it)
    assert [c.subject for c in chain] == [cert.subject, ca.subject]
    cert.verify_directly_issued_by(ca)
    with pytest.raises(ValueError):
        cert.verify_directly_issued_by(leaf(shared.tls_dir / other_ca))
    assert cn(cert) == common_name and orgs(cert) == organizations
    assert list(ext(cert, x509.ExtendedKeyUsage)) == [eku]
    assert not ext(cert, x509.BasicConstraints).ca
    assert ext(cert, x509.AuthorityKeyIdentifier).key_identifier == ext(ca, x509.SubjectKeyIdentifier).digest
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert dt.timedelta(days=365) <= lifetime <= dt.timedelta(days=365, hours=1)
    key = serialization.load_pem_private_key((shared.tls_dir / key_name).read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    assert (shared.tls_dir / key_name).read_bytes().startswith(b"-----BEGIN EC PRIVATE KEY-----")
    assert key.public_key() == cert.public_key()


def test_serving_sans_hold_the_builtin_and_requested_names(shared: ClusterPKI) -> None:
    sans = ext(leaf(shared.serving_cert), x509.SubjectAlternativeName)
    assert sans.get_values_for_type(x509.DNSName) == [
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
        "node1.example",
    ]
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == [
        "127.0.0.1",
        "::1",
        "10.43.0.1",
        "192.0.2.10",
    ]
    assert shared.dns_names[-1] == "node1.example"
    assert [str(ip) for ip in shared.ip_addresses] == ["127.0.0.1", "::1", "10.43.0.1", "192.0.2.10"]


def test_admin_cert_has_no_sans(shared: ClusterPKI) -> None:
    with pytest.raises(x509.ExtensionNotFound):
        ext(leaf(shared.admin_cert), x509.SubjectAlternativeName)


def test_service_account_key_pair_is_rsa_2048_and_matches(shared: ClusterPKI) -> None:
    private = serialization.load_pem_private_key(shared.service_key.read_bytes(), password=None)
    public = serialization.load_pem_public_key(shared.service_pub.read_bytes())
    assert isinstance(private, rsa.RSAPrivateKey) and private.key_size == 2048
    assert private.public_key() == public


def test_server_and_client_ca_pem_helpers_return_the_files(shared: ClusterPKI) -> None:
    assert shared.server_ca_pem() == shared.server_ca_cert.read_bytes()
    assert shared.client_ca_pem() == shared.client_ca_cert.read_bytes()
    assert shared.server_ca_pem() != shared.client_ca_pem()


@pytest.mark.parametrize(
    ("dns", "ips", "message"),
    [
        pytest.param(("10.0.0.1",), (), "dns_names[0] '10.0.0.1' is an IP address", id="ip-in-dns"),
        pytest.param(
            ("ok.example", "bad_name"), (), "dns_names[1] 'bad_name' is not a valid DNS name", id="underscore"
        ),
        pytest.param(("-lead.example",), (), "is not a valid DNS name", id="leading-dash"),
        pytest.param(("a" * 64 + ".example",), (), "is not a valid DNS name", id="label-too-long"),
        pytest.param(("",), (), "is not a valid DNS name", id="empty"),
        pytest.param(
            (), ("10.0.0.300",), "ip_addresses[0] '10.0.0.300' is not an IPv4 or IPv6 address", id="bad-ipv4"
        ),
        pytest.param((), ("node1",), "ip_addresses[0] 'node1' is not an IPv4", id="name-in-ips"),
        pytest.param("node1.example", (), "must be lists of strings", id="bare-string"),
    ],
)
def test_bad_sans_are_refused_before_anything_is_written(
    tmp_path: Path, dns: tuple[str, ...], ips: tuple[str, ...], message: str
) -> None:
    tls = tmp_path / "tls"
    with pytest.raises(PKIError, match=re.escape(message)):
        ensure_pki(tls_dir=tls, dns_names=dns, ip_addresses=ips, now=T0)
    assert not tls.exists()


def test_wildcard_and_upper_case_names_are_accepted_and_normalised(tmp_path: Path) -> None:
    result = make(tmp_path, dns=("*.Apps.Example.", "API.example"), ips=("::0:1", "2001:db8::1"))
    names = ext(leaf(result.serving_cert), x509.SubjectAlternativeName).get_values_for_type(x509.DNSName)
    assert names[-2:] == ["*.apps.example", "api.example"]
    assert [str(ip) for ip in result.ip_addresses] == ["127.0.0.1", "::1", "2001:db8::1"]


def test_naive_now_is_a_programming_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ensure_pki(tls_dir=tmp_path, dns_names=[], ip_addresses=[], now=dt.datetime(2026, 1, 1))


# ---------------------------------------------------------------------------------------------- idempotence


def test_second_run_changes_no_file(tmp_path: Path) -> None:
    make(tmp_path)
    before = snapshot(tmp_path)
    again = make(tmp_path, now=T0 + dt.timedelta(days=30))
    assert again.changed == ()
    assert snapshot(tmp_path) == before


def test_second_run_at_real_time_changes_no_file(tmp_path: Path) -> None:
    ensure_pki(tls_dir=tmp_path, dns_names=["a.example"], ip_addresses=["10.0.0.1"])
    before = snapshot(tmp_path)
    assert ensure_pki(tls_dir=tmp_path, dns_names=["a.example"], ip_addresses=["10.0.0.1"]).changed == ()
    assert snapshot(tmp_path) == before


# ---------------------------------------------------------------------------------------------- renewal


@pytest.mark.parametrize(
    ("days_later", "renewed"),
    [
        pytest.param(0, False, id="same-day"),
        pytest.param(200, False, id="165-days-left"),
        pytest.param(274, False, id="91-days-left"),
        pytest.param(276, True, id="89-days-left"),
        pytest.param(400, True, id="expired"),
    ],
)
def test_leaf_expiring_within_90_days_is_reissued_from_the_same_ca(
    tmp_path: Path, days_later: int, renewed: bool
) -> None:
    make(tmp_path)
    before = snapshot(tmp_path)
    later = T0 + dt.timedelta(days=days_later)
    result = make(tmp_path, now=later)
    after = snapshot(tmp_path)
    for name in (*CA_FILES, "service.key", "service.pub"):
        assert after[name] == before[name], f"{name} must never change on renewal"
    for name in LEAF_FILES:
        assert (after[name][0] != before[name][0]) is renewed, name
    if renewed:
        assert set(result.changed) == set(LEAF_FILES)
        for cert_name, ca_name in (
            ("serving-kube-apiserver.crt", "server-ca.crt"),
            ("client-admin.crt", "client-ca.crt"),
        ):
            cert = leaf(tmp_path / cert_name)
            cert.verify_directly_issued_by(leaf(tmp_path / ca_name))
            assert cert.not_valid_after_utc == later + dt.timedelta(days=365)
    else:
        assert result.changed == ()


def test_renewal_is_idempotent_after_it_happened(tmp_path: Path) -> None:
    make(tmp_path)
    later = T0 + dt.timedelta(days=300)
    make(tmp_path, now=later)
    before = snapshot(tmp_path)
    assert make(tmp_path, now=later + dt.timedelta(minutes=1)).changed == ()
    assert snapshot(tmp_path) == before


def test_leaf_is_capped_at_its_ca_and_not_reissued_in_a_loop(tmp_path: Path) -> None:
    make(tmp_path)
    near_ca_end = T0 + dt.timedelta(days=3650 - 30)
    first = make(tmp_path, now=near_ca_end)
    assert set(first.changed) == set(LEAF_FILES)
    ca_end = leaf(tmp_path / "server-ca.crt").not_valid_after_utc
    assert leaf(tmp_path / "serving-kube-apiserver.crt").not_valid_after_utc == ca_end
    assert make(tmp_path, now=near_ca_end + dt.timedelta(days=1)).changed == ()


def test_expired_ca_is_an_error_not_a_silent_replacement(tmp_path: Path) -> None:
    make(tmp_path)
    before = snapshot(tmp_path)
    with pytest.raises(PKIError, match=re.escape("server-ca.crt: the CA expired on")) as info:
        make(tmp_path, now=T0 + dt.timedelta(days=3651))
    assert info.value.path == tmp_path / "server-ca.crt"
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    ("dns", "ips", "serving_reissued"),
    [
        pytest.param(("node1.example", "new.example"), ("10.43.0.1",), True, id="new-dns-name"),
        pytest.param(("node1.example",), ("10.43.0.1", "192.0.2.7"), True, id="new-ip"),
        pytest.param(("node1.example",), ("10.43.0.1", "2001:db8::7"), True, id="new-ipv6"),
        pytest.param(("node1.example",), ("10.43.0.1",), False, id="same"),
        pytest.param(("NODE1.example",), ("10.43.0.1",), False, id="same-other-case"),
        pytest.param((), (), False, id="fewer-names-still-covered"),
    ],
)
def test_serving_cert_is_reissued_when_its_sans_do_not_cover_the_request(
    tmp_path: Path, dns: tuple[str, ...], ips: tuple[str, ...], serving_reissued: bool
) -> None:
    make(tmp_path)
    before = snapshot(tmp_path)
    result = make(tmp_path, dns=dns, ips=ips, now=T0 + dt.timedelta(days=1))
    after = snapshot(tmp_path)
    assert (after["serving-kube-apiserver.crt"] != before["serving-kube-apiserver.crt"]) is serving_reissued
    assert after["client-admin.crt"] == before["client-admin.crt"]
    assert after["server-ca.crt"] == before["server-ca.crt"]
    if serving_reissued:
        assert set(result.changed) == {"serving-kube-apiserver.crt", "serving-kube-apiserver.key"}
        sans = ext(leaf(tmp_path / "serving-kube-apiserver.crt"), x509.SubjectAlternativeName)
        have = set(sans.get_values_for_type(x509.DNSName)) | {
            str(i) for i in sans.get_values_for_type(x509.IPAddress)
        }
        assert {d.lower() for d in dns} | {str(ipaddress.ip_address(i)) for i in ips} <= have


def test_leaf_with_a_key_that_does_not_match_is_reissued(tmp_path: Path) -> None:
    make(tmp_path)
    other = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    (tmp_path / "client-admin.key").write_bytes(other)
    result = make(tmp_path)
    assert set(result.changed) == {"client-admin.crt", "client-admin.key"}
    key = serialization.load_pem_private_key((tmp_path / "client-admin.key").read_bytes(), password=None)
    assert key.public_key() == leaf(tmp_path / "client-admin.crt").public_key()


def test_leaf_signed_by_a_foreign_ca_is_reissued_from_ours(tmp_path: Path) -> None:
    make(tmp_path)
    cert_pem, key_pem = foreign_client_pair()
    (tmp_path / "client-admin.crt").write_bytes(cert_pem)
    (tmp_path / "client-admin.key").write_bytes(key_pem)
    assert set(make(tmp_path).changed) == {"client-admin.crt", "client-admin.key"}
    leaf(tmp_path / "client-admin.crt").verify_directly_issued_by(leaf(tmp_path / "client-ca.crt"))


@pytest.mark.parametrize("missing", [pytest.param(n, id=n) for n in LEAF_FILES])
def test_missing_leaf_file_reissues_that_leaf_only(tmp_path: Path, missing: str) -> None:
    make(tmp_path)
    before = snapshot(tmp_path)
    (tmp_path / missing).unlink()
    result = make(tmp_path)
    stem = missing.rsplit(".", 1)[0]
    assert set(result.changed) == {f"{stem}.crt", f"{stem}.key"}
    after = snapshot(tmp_path)
    assert {n for n in after if after[n] != before.get(n)} == {f"{stem}.crt", f"{stem}.key"}


def test_service_pub_is_rederived_from_service_key(tmp_path: Path) -> None:
    make(tmp_path)
    good_pub = (tmp_path / "service.pub").read_bytes()
    key_before = (tmp_path / "service.key").read_bytes()
    (tmp_path / "service.pub").write_bytes(b"stale")
    assert make(tmp_path).changed == ("service.pub",)
    assert (tmp_path / "service.pub").read_bytes() == good_pub
    assert (tmp_path / "service.key").read_bytes() == key_before


def test_existing_service_key_from_elsewhere_is_kept(tmp_path: Path) -> None:
    # an HA server joining a cluster receives the cluster's key instead of making its own
    tmp_path.chmod(0o700)
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    (tmp_path / "service.key").write_bytes(pem)
    make(tmp_path)
    assert (tmp_path / "service.key").read_bytes() == pem
    assert serialization.load_pem_public_key((tmp_path / "service.pub").read_bytes()) == key.public_key()


def test_stale_temporary_files_from_a_crash_are_removed(tmp_path: Path) -> None:
    make(tmp_path)
    stale = tmp_path / ".server-ca.key.abc123.tmp"
    stale.write_bytes(b"half")
    make(tmp_path)
    assert not stale.exists()


def test_existing_ca_from_elsewhere_is_used_and_leaves_issued_locally(tmp_path: Path) -> None:
    first = tmp_path / "first"
    make(first)
    joining = tmp_path / "joining"
    joining.mkdir(mode=0o700)
    for name in (*CA_FILES, "service.key"):
        (joining / name).write_bytes((first / name).read_bytes())
    result = make(joining, dns=("node2.example",))
    assert set(result.changed) == {*LEAF_FILES, "service.pub"}
    for name in (*CA_FILES, "service.key"):
        assert (joining / name).read_bytes() == (first / name).read_bytes()
    leaf(joining / "serving-kube-apiserver.crt").verify_directly_issued_by(leaf(first / "server-ca.crt"))


# ---------------------------------------------------------------------------------------------- bad files


@pytest.mark.parametrize("name", [pytest.param(n, id=n) for n in (*CA_FILES, *LEAF_FILES, "service.key")])
@pytest.mark.parametrize("content", [pytest.param(b"garbage\n", id="garbage"), pytest.param(b"", id="empty")])
def test_corrupt_file_is_an_error_naming_it_and_nothing_changes(
    tmp_path: Path, name: str, content: bytes
) -> None:
    make(tmp_path)
    (tmp_path / name).write_bytes(content)
    before = snapshot(tmp_path)
    with pytest.raises(PKIError) as info:
        make(tmp_path)
    assert info.value.path == tmp_path / name
    assert name in str(info.value)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    ("setup", "message", "blamed"),
    [
        pytest.param(
            lambda d: (d / "server-ca.key").unlink(),
            "its key server-ca.key is missing",
            "server-ca.crt",
            id="ca-key-missing",
        ),
        pytest.param(
            lambda d: (d / "client-ca.crt").unlink(),
            "its certificate client-ca.crt is missing",
            "client-ca.key",
            id="ca-cert-missing",
        ),
        pytest.param(
            lambda d: (d / "server-ca.key").write_bytes((d / "client-ca.key").read_bytes()),
            "does not match the private key in server-ca.key",
            "server-ca.crt",
            id="ca-key-mismatch",
        ),
        pytest.param(
            lambda d: (
                (d / "client-ca.crt").write_bytes((d / "client-admin.crt").read_bytes()),
                (d / "client-ca.key").write_bytes((d / "client-admin.key").read_bytes()),
            ),
            "is not a CA",
            "client-ca.crt",
            id="ca-is-a-leaf",
        ),
    ],
)
def test_ca_irregularities_are_errors_never_replacements(
    tmp_path: Path, setup: object, message: str, blamed: str
) -> None:
    make(tmp_path)
    assert callable(setup)
    setup(tmp_path)
    before = snapshot(tmp_path)
    with pytest.raises(PKIError, match=re.escape(message)) as info:
        make(tmp_path)
    assert info.value.path == tmp_path / blamed
    assert snapshot(tmp_path) == before


def test_tls_dir_that_is_a_file_is_an_error(tmp_path: Path) -> None:
    target = tmp_path / "tls"
    target.write_text("not a directory")
    with pytest.raises(PKIError, match="exists and is not a directory"):
        make(target)


# ---------------------------------------------------------------------------------------------- rotate


def test_rotate_reissues_every_leaf_with_new_keys_and_keeps_cas(tmp_path: Path) -> None:
    result = make(tmp_path)
    before = snapshot(tmp_path)
    written = result.rotate(now=T0 + dt.timedelta(days=1))
    assert set(written) == set(LEAF_FILES)
    after = snapshot(tmp_path)
    for name in LEAF_FILES:
        assert after[name][0] != before[name][0], name
    for name in (*CA_FILES, "service.key", "service.pub"):
        assert after[name] == before[name], name
    serving = leaf(tmp_path / "serving-kube-apiserver.crt")
    assert serving.serial_number != leaf_from_bytes(before["serving-kube-apiserver.crt"][0]).serial_number
    assert ext(serving, x509.SubjectAlternativeName).get_values_for_type(x509.DNSName)[-1] == "node1.example"
    # rotation leaves a consistent PKI that the next start accepts as is
    assert make(tmp_path, now=T0 + dt.timedelta(days=2)).changed == ()


def leaf_from_bytes(data: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificates(data)[0]


def test_rotate_without_a_pki_is_an_error(tmp_path: Path) -> None:
    empty = ClusterPKI(tls_dir=tmp_path, dns_names=(), ip_addresses=())
    with pytest.raises(PKIError, match="the server CA does not exist; run ensure_pki first"):
        empty.rotate()


# ---------------------------------------------------------------------------------------------- issuing


def test_issue_client_cert(shared: ClusterPKI) -> None:
    cert_pem, key_pem = shared.issue_client_cert(
        common_name="system:kube-scheduler", organizations=[], days=30
    )
    chain = x509.load_pem_x509_certificates(cert_pem)
    cert = chain[0]
    cert.verify_directly_issued_by(leaf(shared.client_ca_cert))
    assert chain[1] == leaf(shared.client_ca_cert)
    assert cn(cert) == "system:kube-scheduler" and orgs(cert) == []
    assert list(ext(cert, x509.ExtendedKeyUsage)) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert (
        dt.timedelta(days=30)
        <= cert.not_valid_after_utc - cert.not_valid_before_utc
        <= dt.timedelta(days=30, hours=1)
    )
    key = serialization.load_pem_private_key(key_pem, password=None)
    assert key.public_key() == cert.public_key()


def test_issue_client_cert_with_groups(shared: ClusterPKI) -> None:
    cert_pem, _ = shared.issue_client_cert(common_name="alice", organizations=["dev", "ops"])
    assert orgs(x509.load_pem_x509_certificates(cert_pem)[0]) == ["dev", "ops"]


@pytest.mark.parametrize(
    ("common_name", "organizations", "days", "message"),
    [
        pytest.param("", [], 1, "common_name must not be empty", id="empty-cn"),
        pytest.param("alice", "dev", 1, "organizations must be a list", id="string-orgs"),
        pytest.param("alice", ["dev", " "], 1, "must not contain empty group names", id="empty-group"),
        pytest.param("alice", [], 0, "days must be a whole number of days >= 1, got 0", id="zero-days"),
        pytest.param("alice", [], True, "days must be a whole number", id="bool-days"),
    ],
)
def test_issue_client_cert_refuses_bad_input(
    shared: ClusterPKI, common_name: str, organizations: list[str], days: int, message: str
) -> None:
    with pytest.raises(PKIError, match=re.escape(message)):
        shared.issue_client_cert(common_name=common_name, organizations=organizations, days=days)


@pytest.mark.parametrize(
    ("usages", "digital_signature", "key_encipherment", "ekus"),
    [
        pytest.param(["client auth"], False, False, [ExtendedKeyUsageOID.CLIENT_AUTH], id="client-only"),
        pytest.param(
            ["digital signature", "key encipherment", "client auth"],
            True,
            True,
            [ExtendedKeyUsageOID.CLIENT_AUTH],
            id="kubelet-client",
        ),
        pytest.param(
            ["digital signature", "key encipherment", "server auth"],
            True,
            True,
            [ExtendedKeyUsageOID.SERVER_AUTH],
            id="kubelet-serving",
        ),
        pytest.param(
            ["client auth", "server auth", "signing", "client auth"],
            True,
            False,
            [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
            id="sorted-deduplicated",
        ),
    ],
)
def test_sign_csr_maps_kubernetes_usages(
    shared: ClusterPKI,
    usages: list[str],
    digital_signature: bool,
    key_encipherment: bool,
    ekus: list[x509.ObjectIdentifier],
) -> None:
    cert = leaf_from_bytes(shared.sign_csr(csr_pem=make_csr(), usages=usages, days=10))
    assert list(ext(cert, x509.ExtendedKeyUsage)) == ekus
    if digital_signature or key_encipherment:
        usage = ext(cert, x509.KeyUsage)
        assert (usage.digital_signature, usage.key_encipherment) == (digital_signature, key_encipherment)
    else:
        with pytest.raises(x509.ExtensionNotFound):
            ext(cert, x509.KeyUsage)


def test_sign_csr_copies_subject_and_sans_and_drops_other_extensions(shared: ClusterPKI) -> None:
    csr_pem = make_csr(
        common_name="system:node:n1",
        organizations=("system:nodes",),
        dns=("n1.example",),
        ips=("192.0.2.5",),
        rsa_key=True,
        extra_extension=True,
    )
    cert_pem = shared.sign_csr(
        csr_pem=csr_pem,
        usages=["digital signature", "key encipherment", "server auth"],
        days=365,
        signer_name="kubernetes.io/kubelet-serving",
    )
    certs = x509.load_pem_x509_certificates(cert_pem)
    assert len(certs) == 1  # status.certificate holds the issued certificate only
    cert = certs[0]
    csr = x509.load_pem_x509_csr(csr_pem)
    assert cert.subject == csr.subject
    assert cert.public_key() == csr.public_key()
    sans = ext(cert, x509.SubjectAlternativeName)
    assert sans.get_values_for_type(x509.DNSName) == ["n1.example"]
    assert [str(i) for i in sans.get_values_for_type(x509.IPAddress)] == ["192.0.2.5"]
    assert not ext(cert, x509.BasicConstraints).ca
    cert.verify_directly_issued_by(leaf(shared.server_ca_cert))


@pytest.mark.parametrize(
    ("signer_name", "ca_attr"),
    [
        pytest.param("kubernetes.io/kube-apiserver-client", "client_ca_cert", id="apiserver-client"),
        pytest.param("kubernetes.io/kube-apiserver-client-kubelet", "client_ca_cert", id="kubelet-client"),
        pytest.param("kubernetes.io/kubelet-serving", "server_ca_cert", id="kubelet-serving"),
        pytest.param("kubernetes.io/legacy-unknown", "server_ca_cert", id="legacy-unknown"),
    ],
)
def test_sign_csr_uses_the_ca_of_the_signer(shared: ClusterPKI, signer_name: str, ca_attr: str) -> None:
    cert = leaf_from_bytes(
        shared.sign_csr(csr_pem=make_csr(), usages=["client auth"], days=1, signer_name=signer_name)
    )
    cert.verify_directly_issued_by(leaf(getattr(shared, ca_attr)))


def test_sign_csr_backdates_five_minutes_and_caps_at_the_ca(shared: ClusterPKI) -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    short = leaf_from_bytes(shared.sign_csr(csr_pem=make_csr(), usages=["client auth"], days=2, now=now))
    assert short.not_valid_before_utc == now - dt.timedelta(minutes=5)
    assert short.not_valid_after_utc == now + dt.timedelta(days=2)
    long = leaf_from_bytes(shared.sign_csr(csr_pem=make_csr(), usages=["client auth"], days=100_000, now=now))
    assert long.not_valid_after_utc == leaf(shared.client_ca_cert).not_valid_after_utc


def tampered_csr() -> bytes:
    """A well-formed CSR whose signature no longer matches its content."""
    der = bytearray(x509.load_pem_x509_csr(make_csr()).public_bytes(serialization.Encoding.DER))
    der[-1] ^= 0x01  # last byte of the ECDSA signature's s value
    return x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"csr_pem": b"nonsense"}, "not a PEM 'CERTIFICATE REQUEST'", id="garbage"),
        pytest.param({"csr_pem": tampered_csr()}, "signature does not verify", id="bad-signature"),
        pytest.param(
            {"usages": ["client auth", "root access"]},
            "unrecognized usage values: 'root access'; allowed values: signing, digital signature",
            id="unknown-usage",
        ),
        pytest.param({"usages": []}, "must name at least one usage", id="no-usages"),
        pytest.param({"usages": "client auth"}, "must be a list of strings", id="string-usages"),
        pytest.param({"usages": ["encipher only"]}, "require 'key agreement'", id="encipher-only-alone"),
        pytest.param({"days": 0}, "days must be a whole number of days >= 1", id="zero-days"),
        pytest.param(
            {"signer_name": "example.com/mine"},
            "unknown signerName 'example.com/mine'; allowed values: kubernetes.io/kube-apiserver-client",
            id="unknown-signer",
        ),
    ],
)
def test_sign_csr_refuses_bad_requests(shared: ClusterPKI, kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, Any] = {"csr_pem": make_csr(), "usages": ["client auth"], "days": 1, **kwargs}
    with pytest.raises(PKIError, match=re.escape(message)):
        shared.sign_csr(**arguments)


# ---------------------------------------------------------------------------------------------- real TLS


@contextlib.contextmanager
def tls_server(result: ClusterPKI) -> Iterator[tuple[int, queue.Queue[str]]]:
    """One-connection TLS server on 127.0.0.1 (a free port the kernel picks) with the serving cert,
    requiring a client certificate from the client CA, as the API server will. Reports the outcome."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(result.serving_cert, result.serving_key)
    ctx.load_verify_locations(cafile=result.client_ca_cert)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.verify_flags |= ssl.VERIFY_X509_STRICT
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)
    outcome: queue.Queue[str] = queue.Queue()

    def serve() -> None:
        try:
            conn, _ = listener.accept()
        except OSError as exc:
            outcome.put(f"no connection: {exc}")
            return
        with conn:
            conn.settimeout(10)
            try:
                with ctx.wrap_socket(conn, server_side=True) as tls:
                    peer = tls.getpeercert(binary_form=True)
                    tls.sendall(b"ok")
                    outcome.put(f"accepted {cn(x509.load_der_x509_certificate(peer)) if peer else None}")
            except (ssl.SSLError, OSError) as exc:
                outcome.put(f"refused: {exc}")

    thread = threading.Thread(target=serve, name="tls-test-server", daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], outcome
    finally:
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        thread.join(timeout=15)
        assert not thread.is_alive()


def tls_client(
    *, port: int, ca_pem: bytes, cert_pem: bytes, key_pem: bytes, server_hostname: str, scratch: Path
) -> bytes:
    ctx = ssl.create_default_context(cadata=ca_pem.decode())
    ctx.verify_flags |= ssl.VERIFY_X509_STRICT
    scratch.mkdir(mode=0o700, exist_ok=True)
    (scratch / "client.crt").write_bytes(cert_pem)
    (scratch / "client.key").write_bytes(key_pem)
    ctx.load_cert_chain(scratch / "client.crt", scratch / "client.key")
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        ctx.wrap_socket(raw, server_hostname=server_hostname) as tls,
    ):
        received = b""
        while len(received) < 2:
            chunk = tls.recv(2 - len(received))
            if not chunk:
                break
            received += chunk
        return received


def kubeconfig_credentials(result: ClusterPKI) -> tuple[bytes, bytes, bytes]:
    """(CA, client cert, client key) as a client reads them from the admin kubeconfig."""
    text = kubeconfig_yaml(
        server_url="https://127.0.0.1:6443",
        ca_pem=result.server_ca_pem(),
        client_cert_pem=result.admin_cert.read_bytes(),
        client_key_pem=result.admin_key.read_bytes(),
        token=None,
    )
    document = yaml.safe_load(text)
    user = document["users"][0]["user"]
    return (
        base64.b64decode(document["clusters"][0]["cluster"]["certificate-authority-data"]),
        base64.b64decode(user["client-certificate-data"]),
        base64.b64decode(user["client-key-data"]),
    )


@pytest.mark.parametrize(
    "server_hostname",
    [
        pytest.param(h, id=h)
        for h in ("127.0.0.1", "::1", "localhost", "kubernetes.default.svc", "node1.example", "192.0.2.10")
    ],
)
def test_tls_handshake_with_admin_cert_from_kubeconfig_succeeds(
    shared: ClusterPKI, tmp_path: Path, server_hostname: str
) -> None:
    ca_pem, cert_pem, key_pem = kubeconfig_credentials(shared)
    with tls_server(shared) as (port, outcome):
        assert (
            tls_client(
                port=port,
                ca_pem=ca_pem,
                cert_pem=cert_pem,
                key_pem=key_pem,
                server_hostname=server_hostname,
                scratch=tmp_path / "client",
            )
            == b"ok"
        )
        assert outcome.get(timeout=10) == "accepted system:admin"


def test_tls_handshake_with_issued_client_cert_succeeds(shared: ClusterPKI, tmp_path: Path) -> None:
    cert_pem, key_pem = shared.issue_client_cert(
        common_name="system:kube-controller-manager", organizations=[]
    )
    with tls_server(shared) as (port, outcome):
        assert (
            tls_client(
                port=port,
                ca_pem=shared.server_ca_pem(),
                cert_pem=cert_pem,
                key_pem=key_pem,
                server_hostname="127.0.0.1",
                scratch=tmp_path / "client",
            )
            == b"ok"
        )
        assert outcome.get(timeout=10) == "accepted system:kube-controller-manager"


def serving_pair(result: ClusterPKI) -> tuple[bytes, bytes]:
    return result.serving_cert.read_bytes(), result.serving_key.read_bytes()


def admin_pair(result: ClusterPKI) -> tuple[bytes, bytes]:
    return result.admin_cert.read_bytes(), result.admin_key.read_bytes()


@pytest.mark.parametrize(
    "credentials",
    [
        pytest.param(lambda _: foreign_client_pair(), id="cert-from-a-self-made-ca"),
        pytest.param(serving_pair, id="serving-cert-from-the-server-ca"),
    ],
)
def test_tls_handshake_with_a_client_cert_not_from_the_client_ca_is_refused(
    shared: ClusterPKI, tmp_path: Path, credentials: object
) -> None:
    assert callable(credentials)
    cert_pem, key_pem = credentials(shared)
    with tls_server(shared) as (port, outcome):
        with contextlib.suppress(ssl.SSLError, ConnectionError):
            received = tls_client(
                port=port,
                ca_pem=shared.server_ca_pem(),
                cert_pem=cert_pem,
                key_pem=key_pem,
                server_hostname="127.0.0.1",
                scratch=tmp_path / "client",
            )
            assert received != b"ok"
        result = outcome.get(timeout=10)
    assert result.startswith("refused:") and "certificate verify failed" in result


def test_tls_client_refuses_a_name_not_in_the_serving_cert(shared: ClusterPKI, tmp_path: Path) -> None:
    cert_pem, key_pem = admin_pair(shared)
    with tls_server(shared) as (port, outcome):
        with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
            tls_client(
                port=port,
                ca_pem=shared.server_ca_pem(),
                cert_pem=cert_pem,
                key_pem=key_pem,
                server_hostname="evil.example",
                scratch=tmp_path / "client",
            )
        assert outcome.get(timeout=10).startswith("refused:")


def test_tls_client_refuses_a_server_with_another_clusters_ca(shared: ClusterPKI, tmp_path: Path) -> None:
    other = make(tmp_path / "other", now=dt.datetime.now(dt.UTC))
    cert_pem, key_pem = admin_pair(shared)
    with tls_server(shared) as (port, outcome):
        with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
            tls_client(
                port=port,
                ca_pem=other.server_ca_pem(),
                cert_pem=cert_pem,
                key_pem=key_pem,
                server_hostname="127.0.0.1",
                scratch=tmp_path / "client",
            )
        assert outcome.get(timeout=10).startswith("refused:")


def test_module_exposes_every_upstream_usage() -> None:
    # certificates.k8s.io/v1 KeyUsage values (k8s.io/api/certificates/v1/types.go)
    assert set(pki.KUBERNETES_USAGES) == {
        "signing",
        "digital signature",
        "content commitment",
        "key encipherment",
        "key agreement",
        "data encipherment",
        "cert sign",
        "crl sign",
        "encipher only",
        "decipher only",
        "any",
        "server auth",
        "client auth",
        "code signing",
        "email protection",
        "s/mime",
        "ipsec end system",
        "ipsec tunnel",
        "ipsec user",
        "timestamping",
        "ocsp signing",
        "microsoft sgc",
        "netscape sgc",
    }
