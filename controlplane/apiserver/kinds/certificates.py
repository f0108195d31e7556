"""certificates.k8s.io/v1 CertificateSigningRequests (upstream ``pkg/apis/certificates/validation`` and
``pkg/registry/certificates/certificates/strategy.go``).

On create the request must be a PEM ``CERTIFICATE REQUEST`` with a valid signature, ``signerName`` a
``domain/path`` (not the legacy ``kubernetes.io/legacy-unknown`` through v1), ``usages`` present, known
and unique, and ``expirationSeconds`` at least 600. A plain update changes neither spec nor status (as
upstream's ``PrepareForUpdate``: the spec is immutable, status goes through /status and /approval),
only metadata. The requester fields are set by the API server (``controlplane.auth.csr.set_requester``).
"""

from __future__ import annotations

import base64
import binascii
import copy
from typing import Any, Final

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from kubelite.api import validation
from kubelite.api.validation import FieldError, Path
from kubelite.controlplane.apiserver.kinds.workloads import Obj, as_dict
from kubelite.controlplane.apiserver.strategy import Strategy

LEGACY_UNKNOWN_SIGNER: Final = "kubernetes.io/legacy-unknown"
MIN_EXPIRATION_SECONDS: Final = 600
SIGNER_FORM: Final = "must be a fully qualified domain and path of the form 'example.com/signer-name'"
KEY_USAGES: Final = tuple(sorted((
    "signing", "digital signature", "content commitment", "key encipherment", "key agreement",
    "data encipherment", "cert sign", "crl sign", "encipher only", "decipher only", "any", "server auth",
    "client auth", "code signing", "email protection", "s/mime", "ipsec end system", "ipsec tunnel",
    "ipsec user", "timestamping", "ocsp signing", "microsoft sgc", "netscape sgc")))


def validate_signer_name(signer: Any, path: Path) -> list[FieldError]:
    """Upstream ``ValidateSignerName``: ``<DNS domain with a dot>/<DNS labels separated by dots>``."""
    if not signer:
        return [FieldError.required(path, "")]
    signer = str(signer)
    segments = signer.split("/")
    if len(segments) != 2:
        return [FieldError.invalid(path, signer, SIGNER_FORM)]
    domain, name = segments
    problems: list[FieldError] = []
    if len(domain) > 253:
        problems.append(FieldError.too_long(path, 253))
    labels = domain.split(".")
    for label in labels:
        errors = validation.is_dns1123_label(label)
        if errors:
            problems.extend(FieldError.invalid(path, domain, f"validating label {validation.go_quote(label)}: {e}")
                            for e in errors)
            break
    if len(labels) < 2:
        problems.append(FieldError.invalid(path, domain, "should be a domain with at least two segments separated "
                                                         "by dots"))
    for label in name.split("."):
        errors = validation.is_dns1123_label(label)
        if errors:
            problems.extend(FieldError.invalid(path, name, f"validating label {validation.go_quote(label)}: {e}")
                            for e in errors)
            break
    return problems


def request_error(request: Any) -> str | None:
    """Why ``spec.request`` is not a signed PEM certificate request (upstream's words), or None."""
    try:
        pem = base64.b64decode(str(request), validate=True)
    except (binascii.Error, ValueError):
        return "PEM block type must be CERTIFICATE REQUEST"
    if b"-----BEGIN CERTIFICATE REQUEST-----" not in pem:
        return "PEM block type must be CERTIFICATE REQUEST"
    try:
        csr = x509.load_pem_x509_csr(pem)
    except ValueError as exc:
        return str(exc)
    if not csr.is_signature_valid:
        # Go's CheckSignature errors
        if isinstance(csr.public_key(), ec.EllipticCurvePublicKey):
            return "x509: ECDSA verification failure"
        return "crypto/rsa: verification error"
    return None


class CertificateSigningRequestStrategy(Strategy):
    """certificates.k8s.io/v1 CertificateSigningRequest."""

    def validate(self, obj: Obj) -> list[FieldError]:
        problems = super().validate(obj)
        spec = as_dict(obj.get("spec"))
        path = Path("spec")
        if not spec.get("request"):
            problems.append(FieldError.required(path.child("request"), ""))
        else:
            error = request_error(spec["request"])
            if error is not None:
                problems.append(FieldError.invalid(path.child("request"), spec["request"], error))
        signer = spec.get("signerName")
        if signer == LEGACY_UNKNOWN_SIGNER:
            problems.append(FieldError.invalid(path.child("signerName"), signer,
                                               "the legacy signerName is not allowed via this API version"))
        else:
            problems.extend(validate_signer_name(signer, path.child("signerName")))
        expiration = spec.get("expirationSeconds")
        if isinstance(expiration, int) and not isinstance(expiration, bool) and expiration < MIN_EXPIRATION_SECONDS:
            problems.append(FieldError.invalid(path.child("expirationSeconds"), expiration,
                                               "may not specify a duration less than 600 seconds (10 minutes)"))
        usages = spec.get("usages")
        if not usages:
            problems.append(FieldError.required(path.child("usages"), ""))
        seen: set[str] = set()
        for i, usage in enumerate(usages if isinstance(usages, list) else []):
            upath = path.child("usages").index(i)
            if usage not in KEY_USAGES:
                problems.append(FieldError.not_supported(upath, usage, KEY_USAGES))
            elif usage in seen:
                problems.append(FieldError.duplicate(upath, usage))
            seen.add(str(usage))
        return problems

    def prepare_for_update(self, new: Obj, old: Obj) -> Obj:
        # upstream: a main-resource update keeps spec and status; they change only through subresources
        new["spec"] = copy.deepcopy(old.get("spec"))
        return super().prepare_for_update(new, old)

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        # spec was reset from the old object in prepare_for_update; only metadata is left to check
        return super().validate_update(new, old)
