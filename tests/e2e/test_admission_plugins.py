"""Admission on a real server with stock kubectl: ServiceAccount (kube-api-access volume), Pod Security,
LimitRanger, ResourceQuota and NodeRestriction, with upstream's messages."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from e2e_harness import Server, temporary_server


@pytest.fixture(scope="module")
def srv() -> Iterator[Server]:
    with temporary_server("kubelite-admission-") as server:
        yield server


def pod(name: str, **spec: Any) -> str:
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "app", "image": "busybox"}], **spec}}
    return json.dumps(body)


def namespace(srv: Server, name: str, **labels: str) -> None:
    srv.kubectl("create", "namespace", name)
    if labels:
        srv.kubectl("label", "namespace", name, *(f"{k}={v}" for k, v in labels.items()))


def test_service_account_volume_and_root_ca(srv: Server) -> None:
    namespace(srv, "sa-ns")
    srv.kubectl("apply", "-n", "sa-ns", "-f", "-", input=pod("p"))
    got = json.loads(srv.kubectl("get", "pod", "p", "-n", "sa-ns", "-o", "json").stdout)
    assert got["spec"]["serviceAccountName"] == "default"
    volume = next(v for v in got["spec"]["volumes"] if v["name"].startswith("kube-api-access-"))
    sources = volume["projected"]["sources"]
    assert sources[0] == {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}}
    assert sources[1]["configMap"]["name"] == "kube-root-ca.crt"
    assert {"name": volume["name"], "readOnly": True, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"} \
        in got["spec"]["containers"][0]["volumeMounts"]
    # opting out, and a missing account
    srv.kubectl("apply", "-n", "sa-ns", "-f", "-", input=pod("q", automountServiceAccountToken=False))
    assert "volumes" not in json.loads(srv.kubectl("get", "pod", "q", "-n", "sa-ns", "-o", "json").stdout)["spec"]
    missing = srv.kubectl("apply", "-n", "sa-ns", "-f", "-", input=pod("r", serviceAccountName="ghost"), check=False)
    assert 'pods "r" is forbidden: error looking up service account sa-ns/ghost: serviceaccount "ghost" not found' \
        in missing.stderr
    deadline = time.monotonic() + 10
    while srv.kubectl("get", "configmap", "kube-root-ca.crt", "-n", "sa-ns", check=False).returncode != 0:
        assert time.monotonic() < deadline, "kube-root-ca.crt was not published"
        time.sleep(0.1)


def test_pod_security_enforce_and_warn(srv: Server) -> None:
    namespace(srv, "psa-restricted", **{"pod-security.kubernetes.io/enforce": "restricted"})
    refused = srv.kubectl("apply", "-n", "psa-restricted", "-f", "-", input=pod("loose"), check=False)
    assert refused.returncode != 0
    assert ('pods "loose" is forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation != '
            'false (container "app" must set securityContext.allowPrivilegeEscalation=false)') in refused.stderr
    assert 'runAsNonRoot != true (pod or container "app" must set securityContext.runAsNonRoot=true)' in refused.stderr
    tight = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "tight"}, "spec": {
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{"name": "app", "image": "busybox", "securityContext": {
            "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}]}}
    srv.kubectl("apply", "-n", "psa-restricted", "-f", "-", input=json.dumps(tight))
    namespace(srv, "psa-warn", **{"pod-security.kubernetes.io/enforce": "baseline",
                                  "pod-security.kubernetes.io/warn": "restricted"})
    warned = srv.kubectl("apply", "-n", "psa-warn", "-f", "-", input=pod("w"))
    assert 'would violate PodSecurity "restricted:latest"' in warned.stderr
    privileged = srv.kubectl("apply", "-n", "psa-warn", "-f", "-", input=pod("host", hostNetwork=True), check=False)
    assert 'violates PodSecurity "baseline:latest": host namespaces (hostNetwork=true)' in privileged.stderr


def test_limit_range_defaults_and_bounds(srv: Server) -> None:
    namespace(srv, "limits")
    srv.kubectl("apply", "-n", "limits", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "lr"},
        "spec": {"limits": [{"type": "Container", "default": {"cpu": "500m", "memory": "128Mi"},
                             "defaultRequest": {"cpu": "100m"}, "max": {"cpu": "1"}}]}}))
    srv.kubectl("apply", "-n", "limits", "-f", "-", input=pod("defaulted"))
    resources = json.loads(srv.kubectl("get", "pod", "defaulted", "-n", "limits", "-o", "json").stdout)[
        "spec"]["containers"][0]["resources"]
    assert resources["limits"] == {"cpu": "500m", "memory": "128Mi"}
    assert resources["requests"]["cpu"] == "100m"
    big = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "big"}, "spec": {"containers": [
        {"name": "app", "image": "busybox", "resources": {"limits": {"cpu": "2"}}}]}}
    refused = srv.kubectl("apply", "-n", "limits", "-f", "-", input=json.dumps(big), check=False)
    assert 'pods "big" is forbidden: maximum cpu usage per Container is 1, but limit is 2' in refused.stderr


def test_resource_quota_counts(srv: Server) -> None:
    namespace(srv, "quota")
    srv.kubectl("create", "quota", "q", "--hard=pods=1,configmaps=3", "-n", "quota")
    srv.kubectl("apply", "-n", "quota", "-f", "-", input=pod("first"))
    deadline = time.monotonic() + 10
    while True:  # the quota sees the first pod once the watch cache has it
        second = srv.kubectl("apply", "-n", "quota", "-f", "-", input=pod("second"), check=False)
        if second.returncode != 0:
            break
        srv.kubectl("delete", "pod", "second", "-n", "quota", "--wait=false")
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert 'pods "second" is forbidden: exceeded quota: q, requested: pods=1, used: pods=1, limited: pods=1' \
        in second.stderr
    # the quota's status follows (kubectl get quota shows used/hard)
    deadline = time.monotonic() + 10
    while True:
        status = json.loads(srv.kubectl("get", "quota", "q", "-n", "quota", "-o", "json").stdout).get("status") or {}
        if (status.get("used") or {}).get("pods") == "1":
            break
        assert time.monotonic() < deadline, f"quota status not updated: {status}"
        time.sleep(0.2)
    assert status["hard"] == {"pods": "1", "configmaps": "3"}


def test_node_restriction_on_creates(srv: Server) -> None:
    user = ["--as=system:node:n1", "--as-group=system:nodes"]
    refused = srv.kubectl(*user, "create", "-f", "-", input=pod("by-node", nodeName="n1"), check=False)
    assert ('pods "by-node" is forbidden: pod does not have "kubernetes.io/config.mirror" annotation, node "n1" '
            'can only create mirror pods') in refused.stderr
    other = srv.kubectl(*user, "create", "-f", "-", check=False, input=json.dumps(
        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n2"}}))
    assert 'node "n1" is not allowed to modify node "n2"' in other.stderr
