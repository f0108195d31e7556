"""Pod Security admission: the baseline and restricted Pod Security Standards per namespace label.

Design
------
Upstream's ``PodSecurity`` plugin (k8s.io/pod-security-admission). The policy of a namespace comes from
its labels ``pod-security.kubernetes.io/<mode>=<level>`` and ``<mode>-version=<latest|v1.N>``, each
missing one from the configured defaults (``PodSecurityConfiguration``, privileged:latest without one):

* ``enforce``: a pod that violates the level is refused (403,
  ``violates PodSecurity "<level>:<version>": <check> (<detail>), ...``);
* ``audit``: the violation is written into the request's audit event as the annotation
  ``pod-security.kubernetes.io/audit-violations`` (``would violate PodSecurity ...``);
* ``warn``: the same text as a ``Warning`` header, on admitted requests only. Without a warn label a
  namespace that enforces a stricter level than the warn default warns at that level too.

Pods are evaluated on create, and on updates only when the update can change what is checked
(upstream's ``isSignificantPodUpdate``: containers or ephemeral containers added, an image changed), and
on the ``ephemeralcontainers`` subresource; status, binding and the other subresources are ignored.
Workloads (Deployments, ReplicaSets, StatefulSets, DaemonSets, Jobs, CronJobs, ReplicationControllers,
PodTemplates) have their pod template checked against the audit and warn levels only.
Exemptions (usernames, runtime class names, namespaces) skip evaluation and are audited as
``pod-security.kubernetes.io/exempt``. A version selects the checks in force then (runAsUser=0 from v1.23,
restricted capabilities from v1.22, seccomp from v1.19, allowPrivilegeEscalation from v1.8, the sysctls
allowed from v1.27 and v1.29 on). Namespaces: a create or update with an invalid level or version label is
422; raising a namespace's enforce level warns about each existing pod that would violate it.

Each check is a small function over the pod returning ``(check name, detail)`` or None, named and
worded as upstream's ``policy/check_*.go`` so users see the messages they can search for.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from kubelite.api.validation import ErrorType, FieldError
from kubelite.controlplane.admission.chain import CREATE, AdmissionDenied, AdmissionRequest

Obj = dict[str, Any]
Check = Callable[[Obj], "tuple[str, str] | None"]

LABEL: Final = "pod-security.kubernetes.io/"
LEVELS: Final = ("privileged", "baseline", "restricted")
BASELINE_CAPABILITIES: Final = frozenset({"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
                                          "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"})
# the safe sysctls, by the minor version that allowed them (upstream's check_sysctls.go)
SYSCTLS_BY_VERSION: Final = ((0, frozenset({"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range",
                                            "net.ipv4.ip_unprivileged_port_start", "net.ipv4.tcp_syncookies",
                                            "net.ipv4.ping_group_range"})),
                             (27, frozenset({"net.ipv4.ip_local_reserved_ports"})),
                             (29, frozenset({"net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout",
                                             "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes"})))
SAFE_SYSCTLS: Final = frozenset().union(*(names for _, names in SYSCTLS_BY_VERSION))
LATEST: Final = 10**6  # "latest" as a minor version: newer than any
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
    setters = ["pod"] if (_pod_sc(pod).get("seccompProfile") or {}).get("type") == "Unconfined" else []
    names = _containers_with(pod, lambda c: (_sc(c).get("seccompProfile") or {}).get("type") == "Unconfined")
    if names:
        setters.append(f"{_plural(names)} {_quote(names)}")
    return ("seccompProfile", f'{" and ".join(setters)} must not set securityContext.seccompProfile.type to '
            '"Unconfined"') if setters else None


def _go_quote(values: list[str]) -> str:
    return ", ".join(json.dumps(v) for v in values)  # strconv.Quote for what these hold


def app_armor_profile(pod: Obj) -> tuple[str, str] | None:
    """Upstream's appArmorProfile: only RuntimeDefault/Localhost types, only runtime/default or localhost/*
    in the beta annotations."""
    setters: list[str] = []
    values: set[str] = set()
    pod_type = (_pod_sc(pod).get("appArmorProfile") or {}).get("type")
    if pod_type is not None and pod_type not in ("RuntimeDefault", "Localhost"):
        setters.append("pod")
        values.add(str(pod_type))
    names = []
    for c in _containers(pod):
        kind = (_sc(c).get("appArmorProfile") or {}).get("type")
        if kind is not None and kind not in ("RuntimeDefault", "Localhost"):
            names.append(str(c.get("name")))
            values.add(str(kind))
    if names:
        setters.append(f"{_plural(names)} {_quote(names)}")
    pod_annotations = (pod.get("metadata") or {}).get("annotations") or {}
    annotations = sorted(f"{k}={json.dumps(v)}" for k, v in pod_annotations.items()
                         if k.startswith("container.apparmor.security.beta.kubernetes.io/") and v
                         and v != "runtime/default" and not str(v).startswith("localhost/"))
    if annotations:
        setters.append("annotation" if len(annotations) == 1 else "annotations")
    if not setters:
        return None
    bad = [*sorted(values), *annotations]
    return ("forbidden AppArmor profile" if len(bad) == 1 else "forbidden AppArmor profiles",
            f"{' and '.join(setters)} must not set AppArmor profile type to {_go_quote(bad)}")


SELINUX_TYPES: Final = frozenset({"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"})


def selinux_options(pod: Obj) -> tuple[str, str] | None:
    """Upstream's seLinuxOptions: type only one of the container types, user and role unset."""
    types: set[str] = set()
    user = role = False

    def bad(options: Obj | None) -> bool:
        nonlocal user, role
        if not options:
            return False
        wrong = False
        if str(options.get("type") or "") not in SELINUX_TYPES:
            types.add(str(options.get("type")))
            wrong = True
        if options.get("user"):
            user = wrong = True
        if options.get("role"):
            role = wrong = True
        return wrong

    setters = ["pod"] if bad(_pod_sc(pod).get("seLinuxOptions")) else []
    names = _containers_with(pod, lambda c: bad(_sc(c).get("seLinuxOptions")))
    if names:
        setters.append(f"{_plural(names)} {_quote(names)}")
    if not setters:
        return None
    data = [f"{'type' if len(types) == 1 else 'types'} {_go_quote(sorted(types))}"] if types else []
    data += [what for what, flag in (("user may not be set", user), ("role may not be set", role)) if flag]
    return ("seLinuxOptions", f"{' and '.join(setters)} set forbidden securityContext.seLinuxOptions: "
            + "; ".join(data))


def windows_host_process(pod: Obj) -> tuple[str, str] | None:
    setters = ["pod"] if (_pod_sc(pod).get("windowsOptions") or {}).get("hostProcess") is True else []
    names = _containers_with(pod, lambda c: (_sc(c).get("windowsOptions") or {}).get("hostProcess") is True)
    if names:
        setters.append(f"{_plural(names)} {_quote(names)}")
    return ("hostProcess", f"{' and '.join(setters)} must not set securityContext.windowsOptions.hostProcess=true") \
        if setters else None


def sysctls(pod: Obj, minor: int = LATEST) -> tuple[str, str] | None:
    allowed = frozenset().union(*(names for since, names in SYSCTLS_BY_VERSION if since <= minor))
    bad = [str(s.get("name")) for s in _pod_sc(pod).get("sysctls") or [] if s.get("name") not in allowed]
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
    missing_drop, adding, forbidden = [], [], set()
    for c in _containers(pod):
        caps = _sc(c).get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            missing_drop.append(str(c.get("name")))
        added = {str(a) for a in caps.get("add") or [] if a != "NET_BIND_SERVICE"}
        if added:
            adding.append(str(c.get("name")))
            forbidden |= added
    details = []
    if missing_drop:
        details.append(f'{_plural(missing_drop)} {_quote(missing_drop)} must set '
                       'securityContext.capabilities.drop=["ALL"]')
    if adding:
        details.append(f"{_plural(adding)} {_quote(adding)} must not include {_quote(sorted(forbidden))} in "
                       "securityContext.capabilities.add")
    return ("unrestricted capabilities", "; ".join(details)) if details else None


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
    setters: list[str] = []
    values: set[str] = set()
    pod_type = (_pod_sc(pod).get("seccompProfile") or {}).get("type")
    if "seccompProfile" in _pod_sc(pod) and pod_type not in ok:
        setters.append("pod")
        values.add(str(pod_type))
    explicit, implicit = [], []
    for c in _containers(pod):
        if "seccompProfile" in _sc(c):
            kind = (_sc(c).get("seccompProfile") or {}).get("type")
            if kind not in ok:
                explicit.append(str(c.get("name")))
                values.add(str(kind))
        elif pod_type not in ok:
            implicit.append(str(c.get("name")))
    if explicit:
        setters.append(f"{_plural(explicit)} {_quote(explicit)}")
    if setters:
        return ("seccompProfile", f"{' and '.join(setters)} must not set securityContext.seccompProfile.type to "
                f"{_go_quote(sorted(values))}")
    if implicit:
        return ("seccompProfile", f'pod or {_plural(implicit)} {_quote(implicit)} must set '
                'securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"')
    return None


# (since minor version, check), in upstream's evaluation order: the baseline checks every level runs, then
# the two baseline checks that restricted replaces with stricter ones, or restricted's own
BASELINE_SHARED: Final[tuple[tuple[int, Check], ...]] = (
    (0, app_armor_profile), (0, host_namespaces), (0, host_path_volumes), (0, host_ports), (0, privileged),
    (0, proc_mount), (0, selinux_options), (0, sysctls), (0, windows_host_process))
BASELINE: Final[tuple[tuple[int, Check], ...]] = (*BASELINE_SHARED, (0, capabilities_baseline),
                                                  (19, seccomp_baseline))
RESTRICTED: Final[tuple[tuple[int, Check], ...]] = (
    *BASELINE_SHARED, (8, privilege_escalation), (22, capabilities_restricted), (0, volume_types),
    (0, run_as_non_root), (23, run_as_user), (19, seccomp_restricted))
MODES: Final = ("enforce", "audit", "warn")
IGNORED_SUBRESOURCES: Final = frozenset({"exec", "attach", "binding", "eviction", "log", "portforward", "proxy",
                                         "status"})
_VERSION: Final = re.compile(r"v1\.(0|[1-9][0-9]*)")


def evaluate(pod: Obj, level: str, minor: int = LATEST) -> list[str]:
    """Upstream-worded violations of ``level`` at version ``v1.<minor>`` ("check (detail)"), in check order."""
    checks = {"baseline": BASELINE, "restricted": RESTRICTED}.get(level, ())
    found = []
    for since, check in checks:
        if since > minor:
            continue
        result = sysctls(pod, minor) if check is sysctls else check(pod)
        if result is not None:
            found.append(result)
    return [f"{name} ({detail})" for name, detail in found]


@dataclass(frozen=True)
class LevelVersion:
    level: str = "privileged"
    version: str = "latest"

    @property
    def minor(self) -> int:
        return LATEST if self.version == "latest" else int(self.version[len("v1."):])

    def __str__(self) -> str:
        return f"{self.level}:{self.version}"


def parse_level(value: str) -> str | None:
    return value if value in LEVELS else None


def parse_version(value: str) -> str | None:
    return value if value == "latest" or _VERSION.fullmatch(value) else None


@dataclass(frozen=True)
class PodSecurityConfiguration:
    """Upstream's ``PodSecurityConfiguration``: default policy per mode, and exemptions."""

    defaults: dict[str, LevelVersion] = field(default_factory=lambda: {m: LevelVersion() for m in MODES})
    usernames: frozenset[str] = frozenset()
    runtime_classes: frozenset[str] = frozenset()
    namespaces: frozenset[str] = frozenset()


class PodSecurityConfigError(ValueError):
    """The configuration cannot be used; the message names the field."""


def parse_configuration(doc: Any, *, source: str) -> PodSecurityConfiguration:
    """A ``pod-security.admission.config.k8s.io`` ``PodSecurityConfiguration`` (v1, v1beta1)."""
    if not isinstance(doc, dict) or doc.get("kind") != "PodSecurityConfiguration" or doc.get("apiVersion") not in (
            "pod-security.admission.config.k8s.io/v1", "pod-security.admission.config.k8s.io/v1beta1"):
        raise PodSecurityConfigError(f"{source}: must be a pod-security.admission.config.k8s.io/v1 "
                                     "PodSecurityConfiguration")
    raw_defaults = doc.get("defaults") or {}
    if not isinstance(raw_defaults, dict):
        raise PodSecurityConfigError(f"{source}: defaults: must be a mapping")
    defaults = {}
    for mode in MODES:
        level = str(raw_defaults.get(mode, "privileged"))
        version = str(raw_defaults.get(f"{mode}-version", "latest"))
        if parse_level(level) is None:
            raise PodSecurityConfigError(f'{source}: defaults.{mode}: Invalid value: "{level}": must be one of '
                                         "privileged, baseline, restricted")
        if parse_version(version) is None:
            raise PodSecurityConfigError(f'{source}: defaults.{mode}-version: Invalid value: "{version}": must be '
                                         "'latest' or 'v1.x'")
        defaults[mode] = LevelVersion(level, version)
    exemptions = doc.get("exemptions") or {}
    if not isinstance(exemptions, dict):
        raise PodSecurityConfigError(f"{source}: exemptions: must be a mapping")
    lists: dict[str, frozenset[str]] = {}
    for key in ("usernames", "runtimeClasses", "namespaces"):
        value = exemptions.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise PodSecurityConfigError(f"{source}: exemptions.{key}: must be a list of non-empty strings")
        lists[key] = frozenset(value)
    return PodSecurityConfiguration(defaults, lists["usernames"], lists["runtimeClasses"], lists["namespaces"])


def policy_to_evaluate(labels: dict[str, str], defaults: dict[str, LevelVersion]
                       ) -> tuple[dict[str, LevelVersion], list[FieldError]]:
    """The policy of a namespace with ``labels`` (upstream's ``PolicyToEvaluate``) and label errors; an
    invalid level is evaluated as restricted and an invalid version as latest."""
    policy = dict(defaults)
    if not any(key.startswith(LABEL) for key in labels):
        # no pod-security label: the loop below would copy each default unchanged (LevelVersion is
        # frozen, so the same values are shared) and find no error, as for most namespaces on every pod
        return policy, []
    errors: list[FieldError] = []
    explicit: set[str] = set()
    for mode in MODES:
        level, version = policy[mode].level, policy[mode].version
        if LABEL + mode in labels:
            value = labels[LABEL + mode]
            parsed = parse_level(value)
            if parsed is None:
                errors.append(FieldError(ErrorType.INVALID, f"metadata.labels[{LABEL}{mode}]", value,
                                         "must be one of privileged, baseline, restricted"))
                level = "restricted"
            else:
                level = parsed
                explicit.add(mode)
        if LABEL + mode + "-version" in labels:
            value = labels[LABEL + mode + "-version"]
            version = parse_version(value) or "latest"
            if parse_version(value) is None:
                errors.append(FieldError(ErrorType.INVALID, f"metadata.labels[{LABEL}{mode}-version]", value,
                                         "must be 'latest' or 'v1.x'"))
            else:
                explicit.add(mode + "-version")
        policy[mode] = LevelVersion(level, version)
    # a namespace that enforces more than it warns about warns at the enforced level (upstream does too)
    enforce, warn = policy["enforce"], policy["warn"]
    if "warn" not in explicit and "enforce" in explicit and LEVELS.index(enforce.level) > LEVELS.index(warn.level):
        policy["warn"] = LevelVersion(enforce.level, warn.version if "warn-version" in explicit else enforce.version)
    return policy, errors


# workloads whose pod template is checked (upstream's DefaultPodSpecExtractor)
POD_CONTROLLERS: Final = frozenset({("", "podtemplates"), ("", "replicationcontrollers"), ("apps", "replicasets"),
                                    ("apps", "deployments"), ("apps", "statefulsets"), ("apps", "daemonsets"),
                                    ("batch", "jobs"), ("batch", "cronjobs")})


def pod_template(resource: str, obj: Obj) -> Obj | None:
    """The pod template of a workload object (None: it has none)."""
    if resource == "podtemplates":
        template = obj.get("template")
    elif resource == "cronjobs":
        template = ((((obj.get("spec") or {}).get("jobTemplate") or {}).get("spec")) or {}).get("template")
    else:
        template = (obj.get("spec") or {}).get("template")
    return template if isinstance(template, dict) else None


def _images(containers: list[Obj]) -> list[tuple[Any, Any]]:
    return [(c.get("name"), c.get("image")) for c in containers]


def significant_update(pod: Obj, old: Obj) -> bool:
    """Upstream's ``isSignificantPodUpdate``: only added containers or changed images (and the seccomp
    annotations) can change what the checks see; every other pod field they read is immutable."""
    spec, old_spec = pod.get("spec") or {}, old.get("spec") or {}
    for key in ("containers", "initContainers", "ephemeralContainers"):
        if _images(spec.get(key) or []) != _images(old_spec.get(key) or []):
            return True
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    old_annotations = (old.get("metadata") or {}).get("annotations") or {}
    seccomp = [k for k in annotations.keys() | old_annotations.keys() if k.startswith("seccomp.security.alpha")
               or k.startswith("container.seccomp.security.alpha")]
    return any(annotations.get(k) != old_annotations.get(k) for k in seccomp)


class PodSecurity:
    """The plugin, configured; ``admit`` is what the admission chain runs."""

    def __init__(self, config: PodSecurityConfiguration | None = None) -> None:
        self.config = config or PodSecurityConfiguration()

    async def admit(self, request: AdmissionRequest) -> None:
        if (request.group, request.resource) in POD_CONTROLLERS:
            await self._admit_pod_controller(request)
        elif request.group != "":
            return
        elif request.resource == "namespaces":
            await self._admit_namespace(request)
        elif request.resource == "pods" and request.namespace:
            await self._admit_pod(request)

    async def _admit_pod_controller(self, request: AdmissionRequest) -> None:
        """Upstream's ``ValidatePodController``: a workload's pod template is checked against the audit and
        warn levels (never enforced: the pods it creates are), so ``kubectl create deployment`` warns."""
        if request.subresource or not request.namespace or request.namespace in self.config.namespaces:
            return
        if request.user is not None and request.user.name in self.config.usernames:
            return
        template = pod_template(request.resource, request.obj)
        if template is None:
            return
        namespace = await request.get_object(f"/core/namespaces/{request.namespace}")
        labels = ((namespace or {}).get("metadata") or {}).get("labels") or {}
        policy, label_errors = policy_to_evaluate(labels, self.config.defaults)
        if not label_errors and policy["audit"].level == policy["warn"].level == "privileged":
            return
        if (template.get("spec") or {}).get("runtimeClassName") in self.config.runtime_classes:
            return
        audit = evaluate(template, policy["audit"].level, policy["audit"].minor)
        if audit:
            request.audit_annotations[LABEL + "audit-violations"] = \
                f'would violate PodSecurity "{policy["audit"]}": ' + ", ".join(audit)
        warn = audit if policy["warn"] == policy["audit"] else evaluate(template, policy["warn"].level,
                                                                         policy["warn"].minor)
        if warn:
            request.warnings.append(f'would violate PodSecurity "{policy["warn"]}": ' + ", ".join(warn))

    async def _admit_pod(self, request: AdmissionRequest) -> None:
        if request.subresource in IGNORED_SUBRESOURCES:
            return
        if request.namespace in self.config.namespaces:
            request.audit_annotations[LABEL + "exempt"] = "namespace"
            return
        if request.user is not None and request.user.name in self.config.usernames:
            request.audit_annotations[LABEL + "exempt"] = "user"
            return
        namespace = await request.get_object(f"/core/namespaces/{request.namespace}")
        labels = ((namespace or {}).get("metadata") or {}).get("labels") or {}
        policy, label_errors = policy_to_evaluate(labels, self.config.defaults)
        if not label_errors and all(policy[m].level == "privileged" for m in MODES):
            return
        if request.operation != CREATE and not significant_update(request.obj, request.old_obj or {}):
            return
        runtime_class = (request.obj.get("spec") or {}).get("runtimeClassName")
        if runtime_class and runtime_class in self.config.runtime_classes:
            request.audit_annotations[LABEL + "exempt"] = "runtimeClass"
            return
        if label_errors:
            request.audit_annotations[LABEL + "error"] = "Failed to parse policy: " + ", ".join(
                e.error() for e in label_errors)
        results: dict[LevelVersion, list[str]] = {}

        def violations(mode: str) -> list[str]:
            if policy[mode] not in results:
                results[policy[mode]] = evaluate(request.obj, policy[mode].level, policy[mode].minor)
            return results[policy[mode]]

        request.audit_annotations[LABEL + "enforce-policy"] = str(policy["enforce"])
        if violations("audit"):
            request.audit_annotations[LABEL + "audit-violations"] = \
                f'would violate PodSecurity "{policy["audit"]}": ' + ", ".join(violations("audit"))
        if violations("enforce"):
            raise AdmissionDenied(f'violates PodSecurity "{policy["enforce"]}": ' + ", ".join(violations("enforce")))
        if violations("warn"):
            request.warnings.append(f'would violate PodSecurity "{policy["warn"]}": ' + ", ".join(violations("warn")))

    async def _admit_namespace(self, request: AdmissionRequest) -> None:
        if request.subresource:
            return
        labels = (request.obj.get("metadata") or {}).get("labels") or {}
        policy, label_errors = policy_to_evaluate(labels, self.config.defaults)
        if request.operation == CREATE:
            if label_errors:
                raise AdmissionDenied("invalid PodSecurity labels", invalid=tuple(label_errors))
            return
        old_labels = ((request.old_obj or {}).get("metadata") or {}).get("labels") or {}
        old_policy, old_errors = policy_to_evaluate(old_labels, self.config.defaults)
        if label_errors and (not old_errors or label_errors != old_errors):
            raise AdmissionDenied("invalid PodSecurity labels", invalid=tuple(label_errors))
        new, old = policy["enforce"], old_policy["enforce"]
        if new == old or new.level == "privileged" or (
                new.version == old.version and LEVELS.index(new.level) <= LEVELS.index(old.level)):
            return
        name = str(request.obj["metadata"].get("name", ""))
        if name in self.config.namespaces:
            return
        warnings = []
        for pod in request.list_objects("/core/pods/", f"/core/pods/{name}/"):
            if pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
                continue
            if (pod.get("spec") or {}).get("runtimeClassName") in self.config.runtime_classes:
                continue
            found = [v.partition(" (")[0] for v in evaluate(pod, new.level, new.minor)]
            if found:
                warnings.append(f"{pod['metadata']['name']}: {', '.join(found)}")
        if warnings:
            request.warnings += [f'existing pods in namespace "{name}" violate the new PodSecurity enforce level '
                                 f'"{new}"', *warnings]


_DEFAULT: Final = PodSecurity()


async def admit(request: AdmissionRequest) -> None:
    """The plugin with upstream's defaults (privileged:latest, no exemptions)."""
    await _DEFAULT.admit(request)
