"""`kubelite certificate rotate` (rotate_pki) and renewal before expiry on restart."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509

from kubelite import cli
from kubelite.controlplane.auth.pki import (
    ADMIN_CERT,
    CLIENT_CA_CERT,
    SERVER_CA_CERT,
    SERVING_CERT,
    SERVING_KEY,
    PKIError,
    ensure_pki,
    rotate_pki,
)


def sans(path: Path) -> list[str]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    return sorted(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
                  .get_values_for_type(x509.DNSName))


def test_rotate_reissues_leaves_keeps_cas_and_sans(tmp_path: Path) -> None:
    tls = tmp_path / "server" / "tls"
    ensure_pki(tls_dir=tls, dns_names=["node1.example"], ip_addresses=["10.0.0.5"])
    cas = {name: (tls / name).read_bytes() for name in (SERVER_CA_CERT, CLIENT_CA_CERT)}
    before = {name: (tls / name).read_bytes() for name in (SERVING_CERT, SERVING_KEY, ADMIN_CERT)}
    written = rotate_pki(tls_dir=tls)
    assert SERVING_CERT in written and ADMIN_CERT in written
    for name, content in before.items():
        assert (tls / name).read_bytes() != content, name
    for name, content in cas.items():
        assert (tls / name).read_bytes() == content, name
    assert "node1.example" in sans(tls / SERVING_CERT)


def test_rotate_without_a_pki_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(PKIError, match="start `kubelite server` once first"):
        rotate_pki(tls_dir=tmp_path / "nothing")
    assert cli.main(["certificate", "rotate", "--data-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "certificate rotate:" in err


def test_restart_renews_certificates_close_to_expiry(tmp_path: Path) -> None:
    tls = tmp_path / "tls"
    ensure_pki(tls_dir=tls, dns_names=[], ip_addresses=[])
    first = (tls / ADMIN_CERT).read_bytes()
    # a start 300 days later: the one-year leaves expire within 90 days and are renewed
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=300)
    pki = ensure_pki(tls_dir=tls, dns_names=[], ip_addresses=[], now=later)
    assert ADMIN_CERT in pki.changed and (tls / ADMIN_CERT).read_bytes() != first
    assert ensure_pki(tls_dir=tls, dns_names=[], ip_addresses=[], now=later).changed == ()
