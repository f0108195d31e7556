"""ServiceAccount admission: every pod runs as a ServiceAccount and gets its API credentials mounted.

Design
------
Upstream's plugin (``plugin/pkg/admission/serviceaccount``): a pod without ``serviceAccountName`` runs
as ``default``; a named account must exist (403 otherwise). Unless the pod or its account sets
``automountServiceAccountToken: false``, a projected volume ``kube-api-access-<5 chars>`` is added
(a bound ``serviceAccountToken`` valid 3607 s, the ``kube-root-ca.crt`` ConfigMap's ``ca.crt`` and the
pod's namespace) and mounted read-only at ``/var/run/secrets/kubernetes.io/serviceaccount`` in every
container and init container that does not mount something there already. Mirror pods are left alone.

One deliberate difference: the ``default`` account of a namespace created a moment ago may not exist
yet (its controller creates it asynchronously); upstream then refuses the pod, kubelite admits it,
since the token is only requested by the kubelet when the pod starts.
"""

from __future__ import annotations

import random
from typing import Any, Final

from kubelite.controlplane.admission.chain import CREATE, AdmissionDenied, AdmissionRequest

Obj = dict[str, Any]

MOUNT_PATH: Final = "/var/run/secrets/kubernetes.io/serviceaccount"
MIRROR: Final = "kubernetes.io/config.mirror"
TOKEN_SECONDS: Final = 3607
_CHARS: Final = "bcdfghjklmnpqrstvwxz2456789"  # upstream's utilrand alphabet (no vowels, no 0/1/3)
# the suffix only has to differ from the pod's other volume names: like upstream's utilrand (math/rand),
# a seeded PRNG, not the system CSPRNG whose choice() made five getrandom calls for every pod created
_SUFFIX_RANDOM: Final = random.Random()
_PAIRS: Final = [a + b for a in _CHARS for b in _CHARS]
_SUFFIXES: Final = len(_CHARS) ** 5


def volume_suffix() -> str:
    """Five characters of the alphabet, each uniform and independent (as ``choices(k=5)``): the base-27
    digits of one draw below 27**5, read two at a time (one ``random()`` call instead of five)."""
    high, low = divmod(int(_SUFFIX_RANDOM.random() * _SUFFIXES), len(_PAIRS))
    top, middle = divmod(high, len(_PAIRS))
    return _PAIRS[low] + _PAIRS[middle] + _CHARS[top]


def api_access_volume(name: str) -> Obj:
    return {"name": name, "projected": {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"expirationSeconds": TOKEN_SECONDS, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1",
                                                                       "fieldPath": "metadata.namespace"}}]}}]}}


async def admit(request: AdmissionRequest) -> None:
    # on updates upstream's plugin only re-checks what validation already keeps immutable (the account name)
    if request.resource != "pods" or request.group != "" or request.operation != CREATE:
        return
    pod = request.obj
    if MIRROR in ((pod.get("metadata") or {}).get("annotations") or {}):
        return
    spec = pod.setdefault("spec", {})
    name = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    spec["serviceAccountName"] = name
    # the deprecated alias mirrors the name as v1 conversion does; dropping it made every later update
    # differ from the stored spec (Pod defaulting sets it again), so updates were refused as spec changes
    spec["serviceAccount"] = name
    account = await request.get_object(f"/core/serviceaccounts/{request.namespace}/{name}")
    if account is None and name != "default":
        raise AdmissionDenied(f"error looking up service account {request.namespace}/{name}: serviceaccount "
                              f'"{name}" not found')
    if spec.get("automountServiceAccountToken") is False:
        return
    if spec.get("automountServiceAccountToken") is None and \
            (account or {}).get("automountServiceAccountToken") is False:
        return
    containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    if any(m.get("mountPath") == MOUNT_PATH for c in containers for m in c.get("volumeMounts") or []):
        return
    volumes = spec.setdefault("volumes", [])
    taken = {v.get("name") for v in volumes}
    volume_name = ""
    while not volume_name or volume_name in taken:
        volume_name = "kube-api-access-" + volume_suffix()
    volumes.append(api_access_volume(volume_name))
    for container in containers:
        container.setdefault("volumeMounts", []).append(
            {"name": volume_name, "readOnly": True, "mountPath": MOUNT_PATH})
