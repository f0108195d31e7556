"""From Pod spec to CRI configs: QoS, cgroup resources, DNS, env resolution and expansion, labels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kubelet_builders import make_pod

from kubelite.agent.config import AgentConfig
from kubelite.agent.kubelet.container_config import (
    ContainerConfigError,
    ResolvConf,
    cgroup_parent,
    container_config,
    dns_config,
    expand,
    linux_resources,
    qos_class,
    resolve_env,
    sandbox_config,
)
from kubelite.cri import api_pb2

CONFIG = AgentConfig(data_dir=Path("/var/lib/kubelite"), server="https://127.0.0.1:6443", node_name="n1",
                     cluster_dns="10.43.0.10")
GI = 1024**3


def res(requests: dict[str, str] | None = None, limits: dict[str, str] | None = None) -> dict[str, Any]:
    return {"name": "c", "image": "img:1", "resources": {"requests": requests or {}, "limits": limits or {}}}


@pytest.mark.parametrize(("containers", "qos"), [
    pytest.param([{"name": "c"}], "BestEffort", id="best-effort"),
    pytest.param([res({"cpu": "1", "memory": "1Gi"}, {"cpu": "1", "memory": "1Gi"})], "Guaranteed", id="guaranteed"),
    pytest.param([res(limits={"cpu": "1", "memory": "1Gi"})], "Guaranteed", id="limits-only"),
    pytest.param([res({"cpu": "100m"})], "Burstable", id="burstable"),
    pytest.param([res({"cpu": "1", "memory": "1Gi"}, {"cpu": "1", "memory": "1Gi"}), {"name": "d"}], "Burstable",
                 id="one-unlimited-container"),
])
def test_qos_class(containers: list[dict[str, Any]], qos: str) -> None:
    assert qos_class(make_pod(*containers)) == qos


def test_cgroup_parent_by_qos() -> None:
    assert cgroup_parent(CONFIG, make_pod()) == "/kubepods/besteffort/poduid-1"
    guaranteed = make_pod(res(limits={"cpu": "1", "memory": "1Gi"}))
    assert cgroup_parent(CONFIG, guaranteed) == "/kubepods/poduid-1"
    assert cgroup_parent(CONFIG, guaranteed, systemd=True) == "kubepods-poduid_1.slice"


def test_linux_resources_as_upstream() -> None:
    out = linux_resources(res({"cpu": "250m", "memory": "1Gi"}, {"cpu": "500m", "memory": "2Gi"}), qos="Burstable",
                          memory_capacity=8 * GI)
    assert (out.cpu_shares, out.cpu_quota, out.cpu_period, out.memory_limit_in_bytes) == (256, 50000, 100000, 2 * GI)
    assert out.oom_score_adj == 1000 - 1000 // 8
    assert linux_resources({"name": "c"}, qos="BestEffort", memory_capacity=GI).oom_score_adj == 1000
    assert linux_resources({"name": "c"}, qos="BestEffort", memory_capacity=GI).cpu_shares == 2
    assert linux_resources(res(limits={"cpu": "1", "memory": "1Gi"}), qos="Guaranteed",
                           memory_capacity=GI).oom_score_adj == -997


def test_dns_policies() -> None:
    host = ResolvConf.parse("nameserver 1.1.1.1\nsearch corp.example\noptions edns0\n")
    cluster = dns_config(make_pod(), config=CONFIG, host=host)
    assert list(cluster.servers) == ["10.43.0.10"] and list(cluster.options) == ["ndots:5"]
    assert list(cluster.searches) == ["ns.svc.cluster.local", "svc.cluster.local", "cluster.local", "corp.example"]
    host_net = dns_config(make_pod(hostNetwork=True), config=CONFIG, host=host)
    assert list(host_net.servers) == ["1.1.1.1"]
    custom = dns_config(make_pod(dnsPolicy="None", dnsConfig={"nameservers": ["9.9.9.9"],
                                                               "options": [{"name": "ndots", "value": "2"}]}),
                        config=CONFIG, host=host)
    assert list(custom.servers) == ["9.9.9.9"] and list(custom.options) == ["ndots:2"]


def test_sandbox_config_labels_hostname_ports_and_log_directory() -> None:
    pod = make_pod({"name": "c", "ports": [{"containerPort": 80, "hostPort": 8080, "protocol": "UDP"}]},
                   hostname="h1")
    pod["metadata"]["labels"] = {"app": "web"}
    cfg = sandbox_config(pod, config=CONFIG, attempt=1, host_dns=ResolvConf())
    assert cfg.hostname == "h1" and cfg.metadata.attempt == 1
    assert cfg.labels["io.kubernetes.pod.uid"] == "uid-1" and cfg.labels["app"] == "web"
    assert cfg.log_directory == "/var/lib/kubelite/agent/pod-logs/ns_p_uid-1"
    assert cfg.port_mappings[0].host_port == 8080 and cfg.port_mappings[0].protocol == api_pb2.UDP
    host_net = sandbox_config(make_pod(hostNetwork=True), config=CONFIG, attempt=0, host_dns=ResolvConf())
    assert host_net.hostname == "" and host_net.linux.security_context.namespace_options.network == api_pb2.NODE


@pytest.mark.parametrize(("text", "expected"), [
    ("$(A)-$(B)", "1-$(B)"), ("$$(A)", "$(A)"), ("$(A", "$(A"), ("plain", "plain"), ("$$$(A)", "$1"),
])
def test_expand(text: str, expected: str) -> None:
    assert expand(text, {"A": "1"}) == expected


class Lookup:
    def __init__(self, configmaps: dict[str, Any], secrets: dict[str, Any]) -> None:
        self.cms, self.secrets = configmaps, secrets

    async def get_configmap(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.cms.get(name)

    async def get_secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.secrets.get(name)


LOOKUP = Lookup({"cm": {"data": {"k": "v", "x": "y"}}}, {"s": {"data": {"pw": "aHVudGVyMg=="}}})


async def env_of(container: dict[str, Any]) -> dict[str, str]:
    pod = make_pod(container)
    return dict(await resolve_env(container, pod, lookup=LOOKUP, allocatable={"cpu": "4", "memory": "8Gi"},
                                  pod_ip="10.0.0.1", pod_ips=["10.0.0.1"], host_ip="192.0.2.1"))


async def test_env_sources_in_upstream_order() -> None:
    env = await env_of({"name": "c", "envFrom": [{"configMapRef": {"name": "cm"}}, {"secretRef": {"name": "s"},
                                                                                    "prefix": "S_"}],
                        "env": [{"name": "k", "value": "override-$(x)"},
                                {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                                {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
                                {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}]})
    assert env == {"k": "override-y", "x": "y", "S_pw": "hunter2", "IP": "10.0.0.1", "CPU": "4", "NS": "ns"}


@pytest.mark.parametrize(("source", "message"), [
    pytest.param({"configMapKeyRef": {"name": "absent", "key": "k"}}, 'configmap "absent" not found', id="no-cm"),
    pytest.param({"configMapKeyRef": {"name": "cm", "key": "nokey"}}, "couldn't find key nokey", id="no-key"),
    pytest.param({"secretKeyRef": {"name": "absent", "key": "k"}}, 'secret "absent" not found', id="no-secret"),
    pytest.param({"fieldRef": {"fieldPath": "spec.bogus"}}, 'unsupported fieldPath "spec.bogus"', id="bad-field"),
])
async def test_unresolvable_env_is_a_config_error(source: dict[str, Any], message: str) -> None:
    with pytest.raises(ContainerConfigError, match=message):
        await env_of({"name": "c", "env": [{"name": "E", "valueFrom": source}]})
    optional = {k: dict(v, optional=True) for k, v in source.items()}
    if "fieldRef" not in source:
        assert await env_of({"name": "c", "env": [{"name": "E", "valueFrom": optional}]}) == {}


def test_container_config_labels_annotations_and_log_path() -> None:
    container = {"name": "c", "image": "img:1", "command": ["echo", "$(A)"], "args": ["$(B)"], "workingDir": "/w",
                 "securityContext": {"runAsUser": 1000, "readOnlyRootFilesystem": True,
                                     "capabilities": {"add": ["NET_ADMIN"]}, "allowPrivilegeEscalation": False}}
    cfg = container_config(container, make_pod(container), attempt=3, env=[("A", "1"), ("B", "2")], mounts=[],
                           memory_capacity=GI)
    assert list(cfg.command) == ["echo", "1"] and list(cfg.args) == ["2"] and cfg.working_dir == "/w"
    assert cfg.log_path == "c/3.log" and cfg.metadata.attempt == 3
    assert cfg.labels["io.kubernetes.container.name"] == "c" and cfg.labels["io.kubernetes.pod.name"] == "p"
    assert cfg.annotations["io.kubernetes.container.restartCount"] == "3"
    sc = cfg.linux.security_context
    assert sc.run_as_user.value == 1000 and sc.readonly_rootfs and sc.no_new_privs
    assert list(sc.capabilities.add_capabilities) == ["NET_ADMIN"]


async def test_service_variables_come_last_and_expand() -> None:
    from kubelite.agent.kubelet.container_config import service_env_vars

    services = service_env_vars([
        {"metadata": {"name": "kubernetes"}, "spec": {"clusterIP": "10.43.0.1",
                                                      "ports": [{"name": "https", "port": 443, "protocol": "TCP"}]}},
        {"metadata": {"name": "my-db"}, "spec": {"clusterIP": "10.43.0.9", "ports": [{"port": 5432}]}},
        {"metadata": {"name": "headless"}, "spec": {"clusterIP": "None", "ports": [{"port": 1}]}}])
    assert services["KUBERNETES_SERVICE_HOST"] == "10.43.0.1" and services["KUBERNETES_SERVICE_PORT"] == "443"
    assert services["KUBERNETES_SERVICE_PORT_HTTPS"] == "443"
    assert services["KUBERNETES_PORT_443_TCP"] == "tcp://10.43.0.1:443"
    assert services["MY_DB_PORT"] == "tcp://10.43.0.9:5432" and services["MY_DB_PORT_5432_TCP_ADDR"] == "10.43.0.9"
    assert not any(k.startswith("HEADLESS") for k in services)
    container = {"name": "c", "env": [{"name": "URL", "value": "https://$(KUBERNETES_SERVICE_HOST)"},
                                      {"name": "MY_DB_SERVICE_HOST", "value": "override"}]}
    env = await resolve_env(container, make_pod(container), lookup=LOOKUP, allocatable={}, pod_ip="", pod_ips=[],
                            host_ip="", service_env=services)
    assert env[:2] == [("URL", "https://10.43.0.1"), ("MY_DB_SERVICE_HOST", "override")]
    assert dict(env)["KUBERNETES_PORT"] == "tcp://10.43.0.1:443"


@pytest.mark.parametrize(("csc", "image_uid", "image_user", "message"), [
    pytest.param({"runAsNonRoot": True}, 0, "", "image will run as root", id="image-root"),
    pytest.param({"runAsNonRoot": True}, None, "", "image will run as root", id="image-default-user"),
    pytest.param({"runAsNonRoot": True}, None, "app", r"non-numeric user \(app\)", id="image-named-user"),
    pytest.param({"runAsNonRoot": True, "runAsUser": 0}, 1000, "", "runAsUser breaks non-root", id="explicit-0"),
    pytest.param({"runAsNonRoot": True, "runAsUser": 1000}, 0, "", None, id="explicit-non-root"),
    pytest.param({"runAsNonRoot": True}, 1000, "", None, id="image-non-root"),
    pytest.param({}, 0, "", None, id="no-policy"),
])
def test_run_as_non_root(csc: dict[str, Any], image_uid: int | None, image_user: str, message: str | None) -> None:
    from kubelite.agent.kubelet.container_config import verify_run_as_non_root

    container = {"name": "c", "securityContext": csc}
    if message is None:
        verify_run_as_non_root(container, make_pod(container), image_uid=image_uid, image_user=image_user)
    else:
        with pytest.raises(ContainerConfigError, match=message):
            verify_run_as_non_root(container, make_pod(container), image_uid=image_uid, image_user=image_user)


def test_a_privileged_container_makes_the_sandbox_privileged() -> None:
    pod = make_pod({"name": "c", "securityContext": {"privileged": True}})
    assert sandbox_config(pod, config=CONFIG, attempt=0, host_dns=ResolvConf()).linux.security_context.privileged
    assert not sandbox_config(make_pod(), config=CONFIG, attempt=0,
                              host_dns=ResolvConf()).linux.security_context.privileged
