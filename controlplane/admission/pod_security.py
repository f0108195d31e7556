"""Pod Security admission: the baseline and restricted Pod Security Standards per namespace label.

Design
------
Upstream's ``PodSecurity`` plugin (k8s.io/pod-security-admission) for pod creates. A namespace
labelled ``pod-security.kubernetes.io/enforce=<level>`` refuses pods that violate the level (403,
``violates PodSecurity "<level>:latest": <check> (<detail>), ...``); ``warn`` adds the same text as a
``Warning`` header (``would violate PodSecurity ...``) and admits; ``audit`` is recorded by the audit
log as an annotation-free no-op here. Levels: ``privileged`` (nothing checked), ``baseline`` and
``restricted`` (baseline plus its own checks), ``-version`` labels are accepted and treated as latest.

Each check is a small function over the pod returning ``(check name, detail)`` or None, named and
worded as upstream's ``policy/check_*.go`` so users see the messages they can search for.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from kubelite.controlplane.admission.chain import AdmissionDenied, AdmissionRequest

Obj = dict[str, Any]
Check = Callable[[Obj], "tuple[str, str] | None"]

LABEL: Final = "pod-security.kubernetes.io/"
LEVELS: Final = ("privileged", "baseline", "restricted")
BASELINE_CAPABILITIES: Final = frozenset({"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
                                          "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"})
SAFE_SYSCTLS: Final = frozenset({"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range",
                                 "net.ipv4.ip_unprivileged_port_start", "net.ipv4.tcp_syncookies",
                                 "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
                                 "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout",
                                 "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes"})
RESTRICTED_VOLUMES: Final = frozenset({"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                                       "persistentVolumeClaim", "projected", "secret"})


def _containers(pod: Obj) -> list[Obj]:
    spec = pod.get("spec") or {}
    return [*(spec.get("initContainers") or []), *(spec.get("containers") or []),
            *(spec.get("ephemeralContainers") or [])]


def _sc(container: Obj) -> Obj:
    return container.get("securityContext") or {}


def _pod_sc(pod: Obj) -> Obj:
    return (pod.get("spec") or {}).get("securityContext") or {}


def _quote(names: list[str]) -> str:
    return ", ".join(f'"{n}"' for n in names)


def _containers_with(pod: Obj, bad: Callable[[Obj], bool]) -> list[str]:
    return [str(c.get("name")) for c in _containers(pod) if bad(c)]


def _plural(names: list[str]) -> str:
    return "container" if len(names) == 1 else "containers"


def host_namespaces(pod: Obj) -> tuple[str, str] | None:
    spec = pod.get("spec") or {}
    used = [f"{k}=true" for k in ("hostNetwork", "hostPID", "hostIPC") if spec.get(k)]
    return ("host namespaces", ", ".join(used)) if used else None


def privileged(pod: Obj) -> tuple[str, str] | None:
    names = _containers_with(pod, lambda c: _sc(c).get("privileged") is True)
    return ("privileged", f"{_plural(names)} {_quote(names)} must not set securityContext.privileged=true") \
        if names else None


def capabilities_baseline(pod: Obj) -> tuple[str, str] | None:
    bad: list[str] = []
    caps: list[str] = []
    for c in _containers(pod):
        added = [a for a in (_sc(c).get("capabilities") or {}).get("add") or [] if a not in BASELINE_CAPABILITIES]
        if added:
            bad.append(str(c.get("name")))
            caps += [a for a in added if a not in caps]
    return ("non-default capabilities", f"{_plural(bad)} {_quote(bad)} must not include {_quote(caps)} in "
            "securityContext.capabilities.add") if bad else None


def host_path_volumes(pod: Obj) -> tuple[str, str] | None:
    names = [str(v.get("name")) for v in (pod.get("spec") or {}).get("volumes") or [] if "hostPath" in v]
    return ("hostPath volumes", f"volume{'s' if len(names) > 1 else ''} {_quote(names)}") if names else None


def host_ports(pod: Obj) -> tuple[str, str] | None:
    names, ports = [], []
    for c in _containers(pod):
        used = [str(p["hostPort"]) for p in c.get("ports") or [] if p.get("hostPort")]
        if used:
            names.append(str(c.get("name")))
            ports += used
    return ("hostPort", f"{_plural(names)} {_quote(names)} {'uses' if len(names) == 1 else 'use'} "
            f"{'hostPort' if len(ports) == 1 else 'hostPorts'} {', '.join(ports)}") if names else None


def seccomp_baseline(pod: Obj) -> tuple[str, str] | None:
    if (_pod_sc(pod).get("seccompProfile") or {}).get("type") == "Unconfined":
        return ("seccompProfile", 'pod must not set securityContext.seccompProfile.type to "Unconfined"')
    names = _containers_with(pod, lambda c: (_sc(c).get("seccompProfile") or {}).get("type") == "Unconfined")
    return ("seccompProfile", f'{_plural(names)} {_quote(names)} must not set securityContext.seccompProfile.type '
            'to "Unconfined"') if names else None


def sysctls(pod: Obj) -> tuple[str, str] | None:
    bad = [str(s.get("name")) for s in _pod_sc(pod).get("sysctls") or [] if s.get("name") not in SAFE_SYSCTLS]
    return ("forbidden sysctls", ", ".join(bad)) if bad else None


def proc_mount(pod: Obj) -> tuple[str, str] | None:
    names = _containers_with(pod, lambda c: _sc(c).get("procMount") not in (None, "Default"))
    return ("procMount", f'{_plural(names)} {_quote(names)} must not set securityContext.procMount to "Unmasked"') \
        if names else None


def volume_types(pod: Obj) -> tuple[str, str] | None:
    bad = []
    for v in (pod.get("spec") or {}).get("volumes") or []:
        kinds = [k for k in v if k != "name"]
        if kinds and kinds[0] not in RESTRICTED_VOLUMES:
            bad.append(f'"{v.get("name")}"')
    return ("restricted volume types", f"volume{'s' if len(bad) > 1 else ''} {', '.join(bad)} "
            f"use{'s' if len(bad) == 1 else ''} restricted volume type{'s' if len(bad) > 1 else ''}") if bad else None


def privilege_escalation(pod: Obj) -> tuple[str, str] | None:
    names = _containers_with(pod, lambda c: _sc(c).get("allowPrivilegeEscalation") is not False)
    return ("allowPrivilegeEscalation != false", f"{_plural(names)} {_quote(names)} must set "
            "securityContext.allowPrivilegeEscalation=false") if names else None


def capabilities_restricted(pod: Obj) -> tuple[str, str] | None:
    names = []
    for c in _containers(pod):
        caps = _sc(c).get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []) or any(a != "NET_BIND_SERVICE" for a in caps.get("add") or []):
            names.append(str(c.get("name")))
    return ("unrestricted capabilities", f'{_plural(names)} {_quote(names)} must set '
            'securityContext.capabilities.drop=["ALL"]') if names else None


def run_as_non_root(pod: Obj) -> tuple[str, str] | None:
    pod_level = _pod_sc(pod).get("runAsNonRoot")
    if pod_level is False:
        return ("runAsNonRoot != true", "pod must not set securityContext.runAsNonRoot=false")
    names = _containers_with(pod, lambda c: _sc(c).get("runAsNonRoot") is False or (
        pod_level is not True and _sc(c).get("runAsNonRoot") is not True))
    if not names:
        return None
    return ("runAsNonRoot != true", f"pod or {_plural(names)} {_quote(names)} must set "
            "securityContext.runAsNonRoot=true")


def run_as_user(pod: Obj) -> tuple[str, str] | None:
    if _pod_sc(pod).get("runAsUser") == 0:
        return ("runAsUser=0", "pod must not set runAsUser=0")
    names = _containers_with(pod, lambda c: _sc(c).get("runAsUser") == 0)
    return ("runAsUser=0", f"{_plural(names)} {_quote(names)} must not set runAsUser=0") if names else None


def seccomp_restricted(pod: Obj) -> tuple[str, str] | None:
    ok = ("RuntimeDefault", "Localhost")
    pod_ok = (_pod_sc(pod).get("seccompProfile") or {}).get("type") in ok
    names = _containers_with(pod, lambda c: (_sc(c).get("seccompProfile") or {}).get("type") not in ok
                             and not (pod_ok and "seccompProfile" not in _sc(c)))
    if not names:
        return None
    return ("seccompProfile", f'pod or {_plural(names)} {_quote(names)} must set securityContext.seccompProfile.type '
            'to "RuntimeDefault" or "Localhost"')


BASELINE: Final[tuple[Check, ...]] = (host_namespaces, privileged, capabilities_baseline, host_path_volumes,
                                      host_ports, seccomp_baseline, sysctls, proc_mount)
RESTRICTED: Final[tuple[Check, ...]] = (*BASELINE, volume_types, privilege_escalation, capabilities_restricted,
                                        run_as_non_root, run_as_user, seccomp_restricted)


def evaluate(pod: Obj, level: str) -> list[str]:
    """Upstream-worded violations of ``level`` ("check (detail)"), in check order."""
    checks = {"baseline": BASELINE, "restricted": RESTRICTED}.get(level, ())
    found = [result for check in checks if (result := check(pod)) is not None]
    return [f"{name} ({detail})" for name, detail in found]


def _level(labels: dict[str, str], mode: str) -> str:
    value = labels.get(LABEL + mode, "privileged")
    return value if value in LEVELS else "restricted"  # an invalid level is the most restrictive, as upstream


async def admit(request: AdmissionRequest) -> None:
    if request.resource != "pods" or request.group != "" or not request.namespace:
        return
    namespace = await request.get_object(f"/core/namespaces/{request.namespace}")
    labels = ((namespace or {}).get("metadata") or {}).get("labels") or {}
    if not any(k.startswith(LABEL) for k in labels):
        return
    enforce = _level(labels, "enforce")
    problems = evaluate(request.obj, enforce)
    if problems:
        raise AdmissionDenied(f'violates PodSecurity "{enforce}:latest": ' + ", ".join(problems))
    warn = _level(labels, "warn")
    problems = evaluate(request.obj, warn)
    if problems:
        request.warnings.append(f'would violate PodSecurity "{warn}:latest": ' + ", ".join(problems))
