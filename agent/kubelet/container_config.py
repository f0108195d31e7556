"""From a Pod spec to the CRI configs: sandbox (DNS, hostname, ports, cgroup) and container
(command, env, mounts, resources, security context), as upstream's kuberuntime generates them.

Design (upstream pkg/kubelet/kuberuntime/kuberuntime_sandbox.go, kuberuntime_container.go,
kubelet_pods.go makeEnvironmentVariables, pkg/kubelet/qos, third_party/forked/golang/expansion)
-------------------------------------------------------------------------------------------------
Everything here is a pure function of the pod, the agent's config and a few host facts, except env
resolution, which reads ConfigMaps and Secrets through an ``ObjectLookup`` (the kubelet passes its
API client). A reference the kubelet cannot resolve raises `ContainerConfigError`, which the pod
worker shows as the container's ``CreateContainerConfigError`` waiting reason, as upstream.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

from kubelite.agent.config import AgentConfig
from kubelite.agent.kubelet.runtime_state import (
    CONTAINER_HASH_ANNOTATION,
    CONTAINER_NAME_LABEL,
    CONTAINER_RESTART_COUNT_ANNOTATION,
    POD_GRACE_ANNOTATION,
    TERMINATION_MESSAGE_PATH_ANNOTATION,
    TERMINATION_MESSAGE_POLICY_ANNOTATION,
    container_hash,
    pod_labels,
)
from kubelite.api.quantity import Quantity
from kubelite.cri import api_pb2

Obj = dict[str, Any]

GUARANTEED: Final = "Guaranteed"
BURSTABLE: Final = "Burstable"
BEST_EFFORT: Final = "BestEffort"
CPU_PERIOD: Final = 100_000  # quotaPeriod, microseconds
MIN_SHARES: Final = 2
MIN_QUOTA: Final = 1000
GUARANTEED_OOM_SCORE_ADJ: Final = -997
BEST_EFFORT_OOM_SCORE_ADJ: Final = 1000
DNS_NDOTS: Final = 5
_PROTOCOLS: Final = {"TCP": api_pb2.TCP, "UDP": api_pb2.UDP, "SCTP": api_pb2.SCTP}


class ContainerConfigError(Exception):
    """The container's config cannot be built (a missing ConfigMap key, say); the message says what."""


class ObjectLookup(Protocol):
    async def get_configmap(self, namespace: str, name: str) -> Obj | None: ...

    async def get_secret(self, namespace: str, name: str) -> Obj | None: ...


# ---- QoS and resources --------------------------------------------------------------------------------


def _all_containers(pod: Mapping[str, Any]) -> list[Obj]:
    spec = pod.get("spec") or {}
    return [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]


def qos_class(pod: Mapping[str, Any]) -> str:
    """upstream qos.GetPodQOS (cpu and memory only)."""
    requests: dict[str, Quantity] = {}
    limits: dict[str, Quantity] = {}
    guaranteed = True
    for c in _all_containers(pod):
        res = c.get("resources") or {}
        req = {k: Quantity.parse(v) for k, v in (res.get("requests") or {}).items() if k in ("cpu", "memory")}
        lim = {k: Quantity.parse(v) for k, v in (res.get("limits") or {}).items() if k in ("cpu", "memory")}
        for k, q in req.items():
            if not q.is_zero():
                requests[k] = q
        for k, q in lim.items():
            if not q.is_zero():
                limits[k] = q
        if set(lim) != {"cpu", "memory"}:
            guaranteed = False
        for k, q in req.items():
            if k in lim and q.cmp(lim[k]) != 0:
                guaranteed = False
    if not requests and not limits:
        return BEST_EFFORT
    if guaranteed:
        return GUARANTEED
    return BURSTABLE


def cgroup_parent(config: AgentConfig, pod: Mapping[str, Any], *, systemd: bool = False) -> str:
    """``<root>/<qos>/pod<uid>`` (Guaranteed pods sit directly under the root), as the cgroupfs driver."""
    uid = pod["metadata"]["uid"]
    qos = qos_class(pod)
    if systemd:
        tier = "" if qos == GUARANTEED else f"-{qos.lower()}"
        return f"kubepods{tier}-pod{uid.replace('-', '_')}.slice"
    root = config.cgroup_root.rstrip("/") or ""
    tier = "" if qos == GUARANTEED else f"/{qos.lower()}"
    return f"{root}{tier}/pod{uid}"


def _quantity(res: Mapping[str, Any], kind: str, name: str) -> Quantity | None:
    value = (res.get(kind) or {}).get(name)
    return Quantity.parse(value) if value is not None else None


def linux_resources(container: Mapping[str, Any], *, qos: str, memory_capacity: int) -> api_pb2.LinuxContainerResources:
    """cpu shares/quota and memory limit from requests/limits; oom_score_adj by QoS (upstream)."""
    res = container.get("resources") or {}
    cpu_req = _quantity(res, "requests", "cpu")
    cpu_lim = _quantity(res, "limits", "cpu")
    mem_req = _quantity(res, "requests", "memory")
    mem_lim = _quantity(res, "limits", "memory")
    if cpu_req is None and cpu_lim is not None:
        cpu_req = cpu_lim
    shares = MIN_SHARES if cpu_req is None else max(MIN_SHARES, cpu_req.milli_value() * 1024 // 1000)
    out = api_pb2.LinuxContainerResources(cpu_shares=shares)
    if cpu_lim is not None:
        out.cpu_period = CPU_PERIOD
        out.cpu_quota = max(MIN_QUOTA, cpu_lim.milli_value() * CPU_PERIOD // 1000)
    if mem_lim is not None:
        out.memory_limit_in_bytes = mem_lim.value()
    if qos == GUARANTEED:
        out.oom_score_adj = GUARANTEED_OOM_SCORE_ADJ
    elif qos == BEST_EFFORT:
        out.oom_score_adj = BEST_EFFORT_OOM_SCORE_ADJ
    else:
        request = mem_req.value() if mem_req is not None else 0
        adj = 1000 - (1000 * request) // max(memory_capacity, 1)
        out.oom_score_adj = int(min(max(adj, 2), 999))
    return out


# ---- sandbox ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResolvConf:
    servers: tuple[str, ...] = ()
    searches: tuple[str, ...] = ()
    options: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> ResolvConf:
        servers: list[str] = []
        searches: list[str] = []
        options: list[str] = []
        for line in text.splitlines():
            fields = line.split("#", 1)[0].split()
            if not fields:
                continue
            if fields[0] == "nameserver" and len(fields) > 1:
                servers.append(fields[1])
            elif fields[0] in ("search", "domain"):
                searches = fields[1:]
            elif fields[0] == "options":
                options.extend(fields[1:])
        return cls(tuple(servers), tuple(searches), tuple(options))

    @classmethod
    def host(cls, path: Path = Path("/etc/resolv.conf")) -> ResolvConf:
        try:
            return cls.parse(path.read_text())
        except OSError:
            return cls()


def _merge_options(base: Sequence[str], extra: Sequence[Mapping[str, Any]]) -> list[str]:
    options: dict[str, str] = {}
    for opt in base:
        name = opt.partition(":")[0]
        options[name] = opt
    for item in extra:
        key = str(item.get("name", ""))
        options[key] = f"{key}:{item['value']}" if item.get("value") is not None else key
    return list(options.values())


def dns_config(pod: Mapping[str, Any], *, config: AgentConfig, host: ResolvConf) -> api_pb2.DNSConfig:
    """upstream pkg/kubelet/network/dns GetPodDNS: ClusterFirst, ClusterFirstWithHostNet, Default, None."""
    spec = pod.get("spec") or {}
    policy = spec.get("dnsPolicy") or "ClusterFirst"
    custom = spec.get("dnsConfig") or {}
    host_network = bool(spec.get("hostNetwork"))
    cluster = policy == "ClusterFirstWithHostNet" or (policy == "ClusterFirst" and not host_network)
    servers: list[str]
    searches: list[str]
    options: list[str]
    if policy == "None":
        servers, searches, options = [], [], []
    elif cluster and config.cluster_dns:
        ns = pod["metadata"].get("namespace", "default")
        domain = config.cluster_domain
        servers = [config.cluster_dns]
        searches = [f"{ns}.svc.{domain}", f"svc.{domain}", domain, *host.searches]
        options = [f"ndots:{DNS_NDOTS}"]
    else:
        # Default, or ClusterFirst without a cluster DNS Service: the host's resolvers, as upstream
        servers, searches, options = list(host.servers), list(host.searches), list(host.options)
    servers = [*servers, *[s for s in custom.get("nameservers") or [] if s not in servers]]
    searches = [*searches, *[s for s in custom.get("searches") or [] if s not in searches]]
    options = _merge_options(options, custom.get("options") or [])
    return api_pb2.DNSConfig(servers=servers, searches=searches[:32], options=options)


def pod_hostname(pod: Mapping[str, Any]) -> str:
    spec = pod.get("spec") or {}
    return str(spec.get("hostname") or pod["metadata"]["name"])[:63]


def port_mappings(pod: Mapping[str, Any]) -> list[api_pb2.PortMapping]:
    mappings = []
    for c in _all_containers(pod):
        for port in c.get("ports") or []:
            mappings.append(api_pb2.PortMapping(
                protocol=_PROTOCOLS.get(port.get("protocol") or "TCP", api_pb2.TCP),
                container_port=int(port.get("containerPort", 0)), host_port=int(port.get("hostPort") or 0),
                host_ip=port.get("hostIP") or ""))
    return mappings


def namespace_options(pod: Mapping[str, Any]) -> api_pb2.NamespaceOption:
    spec = pod.get("spec") or {}
    return api_pb2.NamespaceOption(
        network=api_pb2.NODE if spec.get("hostNetwork") else api_pb2.POD,
        pid=api_pb2.NODE if spec.get("hostPID") else (api_pb2.POD if spec.get("shareProcessNamespace")
                                                       else api_pb2.CONTAINER),
        ipc=api_pb2.NODE if spec.get("hostIPC") else api_pb2.POD)


def pod_log_directory(config: AgentConfig, pod: Mapping[str, Any]) -> Path:
    md = pod["metadata"]
    return config.pod_logs_dir / f"{md.get('namespace', 'default')}_{md['name']}_{md['uid']}"


def sandbox_config(pod: Mapping[str, Any], *, config: AgentConfig, attempt: int, host_dns: ResolvConf,
                   systemd: bool = False) -> api_pb2.PodSandboxConfig:
    md = pod["metadata"]
    spec = pod.get("spec") or {}
    psc = spec.get("securityContext") or {}
    security = api_pb2.LinuxSandboxSecurityContext(namespace_options=namespace_options(pod),
                                                   supplemental_groups=[int(g) for g in
                                                                        psc.get("supplementalGroups") or []])
    if psc.get("runAsUser") is not None:
        security.run_as_user.value = int(psc["runAsUser"])
    if psc.get("runAsGroup") is not None:
        security.run_as_group.value = int(psc["runAsGroup"])
    # containerd refuses a privileged container in an unprivileged sandbox; upstream makes it privileged
    security.privileged = any((c.get("securityContext") or {}).get("privileged") for c in _all_containers(pod))
    sysctls = {s["name"]: str(s.get("value", "")) for s in psc.get("sysctls") or []}
    annotations = {k: str(v) for k, v in (md.get("annotations") or {}).items()}
    labels = {k: str(v) for k, v in (md.get("labels") or {}).items()}
    labels.update(pod_labels(pod))
    return api_pb2.PodSandboxConfig(
        metadata=api_pb2.PodSandboxMetadata(name=md["name"], uid=md["uid"], namespace=md.get("namespace", "default"),
                                            attempt=attempt),
        # a hostNetwork sandbox must not set a hostname (the runtime refuses to)
        hostname="" if spec.get("hostNetwork") else pod_hostname(pod),
        log_directory=str(pod_log_directory(config, pod)),
        dns_config=dns_config(pod, config=config, host=host_dns),
        port_mappings=port_mappings(pod),
        labels=labels, annotations=annotations,
        linux=api_pb2.LinuxPodSandboxConfig(cgroup_parent=cgroup_parent(config, pod, systemd=systemd),
                                            security_context=security, sysctls=sysctls))


# ---- environment --------------------------------------------------------------------------------------

_REF = re.compile(r"\$\$|\$\(([^)]*)\)")


def expand(text: str, env: Mapping[str, str]) -> str:
    """``$(VAR)`` from ``env`` (unknown names stay as written); ``$$`` is a literal ``$`` (upstream expansion)."""
    def sub(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env[name] if name in env else match.group(0)

    return _REF.sub(sub, text)


def _field_path(pod: Mapping[str, Any], path: str, *, pod_ip: str, pod_ips: Sequence[str], host_ip: str) -> str:
    md = pod["metadata"]
    spec = pod.get("spec") or {}
    simple = {
        "metadata.name": md.get("name", ""), "metadata.namespace": md.get("namespace", "default"),
        "metadata.uid": md.get("uid", ""), "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""), "status.hostIP": host_ip,
        "status.hostIPs": host_ip, "status.podIP": pod_ip, "status.podIPs": ",".join(pod_ips),
    }
    if path in simple:
        return str(simple[path])
    match = re.fullmatch(r"metadata\.(labels|annotations)\['([^']*)'\]", path)
    if match:
        return str((md.get(match.group(1)) or {}).get(match.group(2), ""))
    if path in ("metadata.labels", "metadata.annotations"):
        items = md.get(path.split(".")[1]) or {}
        return "\n".join(f'{k}="{v}"' for k, v in sorted(items.items()))
    raise ContainerConfigError(f'unsupported fieldPath "{path}"')


def resource_field(container: Mapping[str, Any], ref: Mapping[str, Any], *, allocatable: Mapping[str, str]) -> str:
    """upstream resource.ExtractContainerResourceValue: limits default to the node's allocatable."""
    resource = ref.get("resource", "")
    kind, _, name = resource.partition(".")
    if kind not in ("limits", "requests") or not name:
        raise ContainerConfigError(f'unsupported resource "{resource}"')
    res = container.get("resources") or {}
    value = (res.get(kind) or {}).get(name)
    if value is None and kind == "limits":
        value = allocatable.get(name)
    if value is None:
        value = "0"
    quantity = Quantity.parse(value)
    divisor = Quantity.parse(ref.get("divisor") or "1")
    if divisor.is_zero():
        divisor = Quantity.parse("1")
    if name == "cpu":
        # ceil(milli / divisor milli): "1" for any cpu below one core with the default divisor
        return str(-(-quantity.milli_value() // max(divisor.milli_value(), 1)))
    return str(-(-quantity.value() // max(divisor.value(), 1)))


def _secret_value(secret: Mapping[str, Any], key: str) -> str | None:
    data = secret.get("data") or {}
    if key in data:
        return base64.b64decode(data[key]).decode("utf-8", errors="replace")
    string_data = secret.get("stringData") or {}
    return string_data.get(key)


def service_env_vars(services: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Docker-link style variables for Services (upstream pkg/kubelet/envvars FromServices)."""
    env: dict[str, str] = {}
    for svc in services:
        spec = svc.get("spec") or {}
        ip = spec.get("clusterIP") or ""
        ports = spec.get("ports") or []
        if not ip or ip == "None" or not ports:
            continue
        name = svc["metadata"]["name"].upper().replace("-", "_")
        env[f"{name}_SERVICE_HOST"] = ip
        env[f"{name}_SERVICE_PORT"] = str(ports[0]["port"])
        for port in ports:
            if port.get("name"):
                env[f"{name}_SERVICE_PORT_{port['name'].upper().replace('-', '_')}"] = str(port["port"])
        first = ports[0]
        env[f"{name}_PORT"] = f"{(first.get('protocol') or 'TCP').lower()}://{ip}:{first['port']}"
        for port in ports:
            protocol = port.get("protocol") or "TCP"
            prefix = f"{name}_PORT_{port['port']}_{protocol.upper()}"
            env[prefix] = f"{protocol.lower()}://{ip}:{port['port']}"
            env[f"{prefix}_PROTO"] = protocol.lower()
            env[f"{prefix}_PORT"] = str(port["port"])
            env[f"{prefix}_ADDR"] = ip
    return env


async def resolve_env(container: Mapping[str, Any], pod: Mapping[str, Any], *, lookup: ObjectLookup,
                      allocatable: Mapping[str, str], pod_ip: str, pod_ips: Sequence[str],
                      host_ip: str, service_env: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """The container's environment in upstream's order: envFrom, then env (later wins, ``$(VAR)`` expanded
    against both and the Service variables), then the Service variables the container did not set."""
    services = dict(service_env or {})
    ns = pod["metadata"].get("namespace", "default")
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix") or ""
        if "configMapRef" in source:
            ref = source["configMapRef"]
            cm = await lookup.get_configmap(ns, ref["name"])
            if cm is None:
                if ref.get("optional"):
                    continue
                raise ContainerConfigError(f'configmap "{ref["name"]}" not found')
            for k, v in (cm.get("data") or {}).items():
                env[prefix + k] = str(v)
        elif "secretRef" in source:
            ref = source["secretRef"]
            secret = await lookup.get_secret(ns, ref["name"])
            if secret is None:
                if ref.get("optional"):
                    continue
                raise ContainerConfigError(f'secret "{ref["name"]}" not found')
            for k in (secret.get("data") or {}):
                env[prefix + k] = _secret_value(secret, k) or ""
    for var in container.get("env") or []:
        name = var["name"]
        if "valueFrom" not in var:
            env[name] = expand(str(var.get("value", "")), {**services, **env})
            continue
        source = var["valueFrom"]
        if "fieldRef" in source:
            env[name] = _field_path(pod, source["fieldRef"]["fieldPath"], pod_ip=pod_ip, pod_ips=pod_ips,
                                    host_ip=host_ip)
        elif "resourceFieldRef" in source:
            ref = source["resourceFieldRef"]
            target = container
            if ref.get("containerName"):
                target = next((c for c in _all_containers(pod) if c["name"] == ref["containerName"]), container)
            env[name] = resource_field(target, ref, allocatable=allocatable)
        elif "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            cm = await lookup.get_configmap(ns, ref["name"])
            if cm is None:
                if ref.get("optional"):
                    continue
                raise ContainerConfigError(f'configmap "{ref["name"]}" not found')
            data = cm.get("data") or {}
            if ref["key"] not in data:
                if ref.get("optional"):
                    continue
                raise ContainerConfigError(f'couldn\'t find key {ref["key"]} in ConfigMap {ns}/{ref["name"]}')
            env[name] = str(data[ref["key"]])
        elif "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            secret = await lookup.get_secret(ns, ref["name"])
            if secret is None:
                if ref.get("optional"):
                    continue
                raise ContainerConfigError(f'secret "{ref["name"]}" not found')
            value = _secret_value(secret, ref["key"])
            if value is None:
                if ref.get("optional"):
                    continue
                raise ContainerConfigError(f'couldn\'t find key {ref["key"]} in Secret {ns}/{ref["name"]}')
            env[name] = value
    return [*env.items(), *((k, v) for k, v in services.items() if k not in env)]


# ---- container ----------------------------------------------------------------------------------------


def security_context(container: Mapping[str, Any], pod: Mapping[str, Any]) -> api_pb2.LinuxContainerSecurityContext:
    """The container's securityContext over the pod's (container fields win), as upstream."""
    psc = (pod.get("spec") or {}).get("securityContext") or {}
    csc = container.get("securityContext") or {}
    out = api_pb2.LinuxContainerSecurityContext(
        namespace_options=namespace_options(pod), privileged=bool(csc.get("privileged")),
        readonly_rootfs=bool(csc.get("readOnlyRootFilesystem")),
        supplemental_groups=[int(g) for g in psc.get("supplementalGroups") or []])
    run_as_user = csc.get("runAsUser", psc.get("runAsUser"))
    if run_as_user is not None:
        out.run_as_user.value = int(run_as_user)
    run_as_group = csc.get("runAsGroup", psc.get("runAsGroup"))
    if run_as_group is not None:
        out.run_as_group.value = int(run_as_group)
    caps = csc.get("capabilities") or {}
    if caps:
        out.capabilities.add_capabilities.extend(caps.get("add") or [])
        out.capabilities.drop_capabilities.extend(caps.get("drop") or [])
    if csc.get("allowPrivilegeEscalation") is False:
        out.no_new_privs = True
    return out


def verify_run_as_non_root(container: Mapping[str, Any], pod: Mapping[str, Any], *, image_uid: int | None,
                           image_user: str) -> None:
    """upstream verifyRunAsNonRoot: refuse to start a container that would run as root."""
    psc = (pod.get("spec") or {}).get("securityContext") or {}
    csc = container.get("securityContext") or {}
    if not csc.get("runAsNonRoot", psc.get("runAsNonRoot")):
        return
    uid = csc.get("runAsUser", psc.get("runAsUser"))
    if uid is not None:
        if int(uid) == 0:
            raise ContainerConfigError("container's runAsUser breaks non-root policy (pod: "
                                       f'"{pod["metadata"]["name"]}", container: {container["name"]})')
        return
    if image_uid is None and image_user:
        raise ContainerConfigError(f"container has runAsNonRoot and image has non-numeric user ({image_user}), "
                                   "cannot verify user is non-root (pod: "
                                   f'"{pod["metadata"]["name"]}", container: {container["name"]})')
    if not image_uid:
        raise ContainerConfigError("container has runAsNonRoot and image will run as root (pod: "
                                   f'"{pod["metadata"]["name"]}", container: {container["name"]})')


def container_config(container: Mapping[str, Any], pod: Mapping[str, Any], *, attempt: int,
                     env: Sequence[tuple[str, str]], mounts: Sequence[api_pb2.Mount],
                     memory_capacity: int) -> api_pb2.ContainerConfig:
    name = container["name"]
    env_map = dict(env)
    spec = pod.get("spec") or {}
    labels = pod_labels(pod)
    labels[CONTAINER_NAME_LABEL] = name
    annotations = {
        CONTAINER_HASH_ANNOTATION: container_hash(container),
        CONTAINER_RESTART_COUNT_ANNOTATION: str(attempt),
        TERMINATION_MESSAGE_PATH_ANNOTATION: container.get("terminationMessagePath") or "/dev/termination-log",
        TERMINATION_MESSAGE_POLICY_ANNOTATION: container.get("terminationMessagePolicy") or "File",
        POD_GRACE_ANNOTATION: str(spec.get("terminationGracePeriodSeconds", 30)),
    }
    return api_pb2.ContainerConfig(
        metadata=api_pb2.ContainerMetadata(name=name, attempt=attempt),
        image=api_pb2.ImageSpec(image=container.get("image", "")),
        command=[expand(c, env_map) for c in container.get("command") or []],
        args=[expand(a, env_map) for a in container.get("args") or []],
        working_dir=container.get("workingDir") or "",
        # KeyValue.value is declared bytes in cri/api.proto (upstream: string; same wire encoding)
        envs=[api_pb2.KeyValue(key=k, value=v.encode()) for k, v in env],
        mounts=list(mounts),
        labels=labels, annotations=annotations,
        log_path=f"{name}/{attempt}.log",
        stdin=bool(container.get("stdin")), stdin_once=bool(container.get("stdinOnce")),
        tty=bool(container.get("tty")),
        linux=api_pb2.LinuxContainerConfig(
            resources=linux_resources(container, qos=qos_class(pod), memory_capacity=memory_capacity),
            security_context=security_context(container, pod)))
