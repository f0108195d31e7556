"""CertificateSigningRequests: who asked, auto-approval of node client certificates, and signing.

Design
------
Three pieces of upstream, as plain functions plus one small reconcile:

* ``set_requester`` is the CSR strategy's PrepareForCreate: ``spec.username/uid/groups/extra`` are the
  authenticated creator's, whatever the body said (so approval can trust them).
* ``approval_for`` is the csrapproving controller's policy: a ``kubernetes.io/kube-apiserver-client-kubelet``
  request for ``CN=system:node:<name>, O=system:nodes`` with client usages only and no SANs is approved
  when the requester may ``create certificatesigningrequests/nodeclient`` (a join token's group is bound
  to that) or, for a renewal by the node itself, ``.../selfnodeclient``.
* ``CSRSigner`` watches CSRs in the watch cache, approves what ``approval_for`` allows and signs every
  approved, unsigned request of a signer the PKI serves (``ClusterPKI.sign_csr``), writing
  ``status.certificate``. A request it cannot sign gets a ``Failed`` condition, as upstream.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Final

from cryptography import x509
from cryptography.x509.oid import NameOID

from kubelite.controlplane.auth.authentication import UserInfo
from kubelite.controlplane.auth.authorization import Attributes, Authorizers, Decision
from kubelite.controlplane.auth.pki import SIGNER_CAS, ClusterPKI, PKIError

log = logging.getLogger(__name__)

Obj = dict[str, Any]

KUBELET_CLIENT_SIGNER: Final = "kubernetes.io/kube-apiserver-client-kubelet"
CLIENT_USAGES: Final = frozenset({"key encipherment", "digital signature", "client auth"})
MAX_DAYS: Final = 365
PREFIX: Final = "/certificates.k8s.io/certificatesigningrequests/"


def set_requester(body: Obj, user: UserInfo) -> None:
    """Record the creator in the spec (upstream's PrepareForCreate for CSRs)."""
    spec = body.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    spec["username"] = user.name
    spec["groups"] = list(user.groups)
    if user.uid:
        spec["uid"] = user.uid
    else:
        spec.pop("uid", None)
    if user.extra:
        spec["extra"] = {k: list(v) for k, v in user.extra.items()}
    else:
        spec.pop("extra", None)


def _conditions(csr: Obj) -> set[str]:
    return {str(c.get("type")) for c in ((csr.get("status") or {}).get("conditions") or []) if isinstance(c, dict)}


def parse_request(csr: Obj) -> x509.CertificateSigningRequest | None:
    try:
        pem = base64.b64decode(str((csr.get("spec") or {}).get("request") or ""), validate=True)
        return x509.load_pem_x509_csr(pem)
    except (binascii.Error, ValueError):
        return None


def is_node_client_request(csr: Obj) -> str | None:
    """The node name if ``csr`` asks for a kubelet client certificate as upstream defines it."""
    spec = csr.get("spec") or {}
    if spec.get("signerName") != KUBELET_CLIENT_SIGNER:
        return None
    usages = set(spec.get("usages") or [])
    if not usages or not usages <= CLIENT_USAGES or "client auth" not in usages:
        return None
    request = parse_request(csr)
    if request is None:
        return None
    orgs = [a.value for a in request.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    names = [a.value for a in request.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    if orgs != ["system:nodes"] or len(names) != 1 or not str(names[0]).startswith("system:node:"):
        return None
    with contextlib.suppress(x509.ExtensionNotFound):
        request.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        return None  # node client certificates carry no SANs
    return str(names[0])[len("system:node:"):] or None


def approval_for(csr: Obj, authorizer: Authorizers) -> bool:
    """Upstream's sarApprover: may the requester have this node client certificate auto-approved?"""
    node = is_node_client_request(csr)
    if node is None:
        return False
    spec = csr.get("spec") or {}
    requester = UserInfo(str(spec.get("username") or ""), str(spec.get("uid") or ""),
                         tuple(spec.get("groups") or []))
    subresources = ["nodeclient"]
    if requester.name == f"system:node:{node}":
        subresources.insert(0, "selfnodeclient")
    for sub in subresources:
        attributes = Attributes(requester, "create", True, api_group="certificates.k8s.io",
                                resource="certificatesigningrequests", subresource=sub)
        if authorizer.authorize(attributes)[0] is Decision.ALLOW:
            return True
    return False


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def approve(csr: Obj) -> Obj:
    status = csr.setdefault("status", {})
    conditions = [c for c in status.get("conditions") or [] if c.get("type") != "Approved"]
    conditions.append({"type": "Approved", "status": "True", "reason": "AutoApproved",
                       "message": "Auto approving kubelet client certificate after SubjectAccessReview.",
                       "lastUpdateTime": _now(), "lastTransitionTime": _now()})
    status["conditions"] = conditions
    return csr


def sign(csr: Obj, pki: ClusterPKI) -> Obj:
    """``csr`` with status.certificate, or with a Failed condition when it cannot be signed."""
    spec = csr.get("spec") or {}
    status = csr.setdefault("status", {})
    seconds = spec.get("expirationSeconds")
    days = MAX_DAYS
    if isinstance(seconds, int) and seconds > 0:
        days = max(1, min(MAX_DAYS, seconds // 86400))
    try:
        pem = base64.b64decode(str(spec.get("request") or ""), validate=True)
        certificate = pki.sign_csr(csr_pem=pem, usages=list(spec.get("usages") or []), days=days,
                                   signer_name=str(spec.get("signerName")))
    except (PKIError, binascii.Error, ValueError) as exc:
        status["conditions"] = [*(status.get("conditions") or []), {
            "type": "Failed", "status": "True", "reason": "SignerValidationFailure", "message": str(exc),
            "lastUpdateTime": _now(), "lastTransitionTime": _now()}]
        return csr
    status["certificate"] = base64.b64encode(certificate).decode()
    return csr


Update = Callable[[str, Callable[[Obj], Obj]], Awaitable[None]]


class CSRSigner:
    """Approves and signs CSRs as they appear; ``events()`` yields CSR objects from the watch cache."""

    def __init__(self, *, pki: ClusterPKI, authorizer: Authorizers, update_status: Update) -> None:
        self.pki = pki
        self.authorizer = authorizer
        self.update_status = update_status

    def wanted(self, csr: Obj) -> bool:
        conditions = _conditions(csr)
        if "Denied" in conditions or "Failed" in conditions or (csr.get("status") or {}).get("certificate"):
            return False
        if (csr.get("spec") or {}).get("signerName") not in SIGNER_CAS or \
                (csr.get("spec") or {}).get("signerName") == "kubernetes.io/legacy-unknown":
            return False
        return "Approved" in conditions or approval_for(csr, self.authorizer)

    async def reconcile(self, csr: Obj) -> None:
        if not self.wanted(csr):
            return
        name = csr["metadata"]["name"]

        def process(current: Obj) -> Obj:
            if not self.wanted(current):
                return current
            if "Approved" not in _conditions(current):
                approve(current)
            return sign(current, self.pki)

        try:
            await self.update_status(name, process)
        except Exception as exc:  # one bad request must not stop the signer; it is retried on its next change
            log.warning("certificatesigningrequest %s: %s", name, exc)

    async def run(self, events: Callable[[], Any]) -> None:
        """``events()`` is an async iterator of CSR objects (re-created after a watch ends)."""
        while True:
            try:
                async for csr in events():
                    await self.reconcile(csr)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("csr signer: watch failed (%s); restarting", exc)
            await asyncio.sleep(0.5)
