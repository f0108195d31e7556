"""Admission on a real server with stock kubectl: ServiceAccount (kube-api-access volume), Pod Security,
LimitRanger, ResourceQuota and NodeRestriction, on creates and updates, with upstream's messages."""

from __future__ import annotations

import json
import os
import subprocess
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
    # a workload is admitted with a warning: its pods are what enforce refuses
    deployment = srv.kubectl("create", "deployment", "web", "--image=busybox", "-n", "psa-restricted")
    assert 'Warning: would violate PodSecurity "restricted:latest": allowPrivilegeEscalation != false' \
        in deployment.stderr
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
    # refused at once: the first create charged the quota's status before its pod reached any cache
    second = srv.kubectl("apply", "-n", "quota", "-f", "-", input=pod("second"), check=False)
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
    # deleting the pod gives its slot back (the resync lowers status.used once the pod is gone for good)
    srv.kubectl("delete", "pod", "first", "-n", "quota", "--grace-period=0", "--force")
    deadline = time.monotonic() + 15
    while srv.kubectl("apply", "-n", "quota", "-f", "-", input=pod("third"), check=False).returncode != 0:
        assert time.monotonic() < deadline, "the deleted pod's quota slot was never released"
        time.sleep(0.3)


def test_node_restriction_on_creates(srv: Server) -> None:
    user = ["--as=system:node:n1", "--as-group=system:nodes"]
    refused = srv.kubectl(*user, "create", "-f", "-", input=pod("by-node", nodeName="n1"), check=False)
    assert ('pods "by-node" is forbidden: pod does not have "kubernetes.io/config.mirror" annotation, node "n1" '
            'can only create mirror pods') in refused.stderr
    other = srv.kubectl(*user, "create", "-f", "-", check=False, input=json.dumps(
        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n2"}}))
    assert 'node "n1" is not allowed to modify node "n2"' in other.stderr


def test_node_may_not_relabel_or_untaint_itself(srv: Server) -> None:
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n-self", "labels": {"team": "a"}},
            "spec": {"taints": [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]}}
    srv.kubectl("create", "-f", "-", input=json.dumps(node))
    user = ["--as=system:node:n-self", "--as-group=system:nodes"]
    srv.kubectl(*user, "label", "node", "n-self", "team=b", "--overwrite")  # its own labels: allowed
    restricted = srv.kubectl(*user, "label", "node", "n-self", "node-restriction.kubernetes.io/pci=true",
                             check=False)
    assert ('nodes "n-self" is forbidden: node "n-self" is not allowed to modify labels: '
            'node-restriction.kubernetes.io/pci') in restricted.stderr
    role = srv.kubectl(*user, "label", "node", "n-self", "node-role.kubernetes.io/control-plane=", check=False)
    assert "is not allowed to modify labels: node-role.kubernetes.io/control-plane" in role.stderr
    untaint = srv.kubectl(*user, "taint", "node", "n-self", "dedicated-", check=False)
    assert 'nodes "n-self" is forbidden: node "n-self" is not allowed to modify taints' in untaint.stderr
    labels = json.loads(srv.kubectl("get", "node", "n-self", "-o", "json").stdout)["metadata"]["labels"]
    assert labels == {"team": "b"}
    # the admin may
    srv.kubectl("label", "node", "n-self", "node-restriction.kubernetes.io/pci=true")
    srv.kubectl("taint", "node", "n-self", "dedicated-")


def test_quota_on_updates_and_claims(srv: Server) -> None:
    namespace(srv, "quota-upd")
    srv.kubectl("create", "quota", "ports", "--hard=services.nodeports=0,services.loadbalancers=0",
                "-n", "quota-upd")
    srv.kubectl("create", "service", "clusterip", "web", "--tcp=80:80", "-n", "quota-upd")
    refused = srv.kubectl("patch", "service", "web", "-n", "quota-upd", "-p", '{"spec":{"type":"NodePort"}}',
                          check=False)
    assert ('services "web" is forbidden: exceeded quota: ports, requested: services.nodeports=1, used: '
            'services.nodeports=0, limited: services.nodeports=0') in refused.stderr
    assert json.loads(srv.kubectl("get", "service", "web", "-n", "quota-upd", "-o", "json").stdout)[
        "spec"]["type"] == "ClusterIP"
    srv.kubectl("apply", "-n", "quota-upd", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "storage"},
        "spec": {"limits": [{"type": "PersistentVolumeClaim", "max": {"storage": "1Gi"}}]}}))
    claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
             "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "2Gi"}}}}
    big = srv.kubectl("apply", "-n", "quota-upd", "-f", "-", input=json.dumps(claim), check=False)
    assert ('persistentvolumeclaims "data" is forbidden: maximum storage usage per PersistentVolumeClaim is 1Gi, '
            'but request is 2Gi') in big.stderr
    # any resource by count/<plural>.<group>
    srv.kubectl("create", "quota", "deploys", "--hard=count/deployments.apps=1", "-n", "quota-upd")
    srv.kubectl("create", "deployment", "one", "--image=busybox", "-n", "quota-upd")
    two = srv.kubectl("create", "deployment", "two", "--image=busybox", "-n", "quota-upd", check=False)
    assert ('deployments.apps "two" is forbidden: exceeded quota: deploys, requested: count/deployments.apps=1, '
            'used: count/deployments.apps=1, limited: count/deployments.apps=1') in two.stderr


def test_racing_creates_never_exceed_the_quota(srv: Server) -> None:
    """Eight kubectl processes create Secrets at the same moment against a quota with two free slots:
    exactly two succeed (the charge is a compare-and-swap on the quota's status)."""
    namespace(srv, "quota-race")
    srv.kubectl("create", "quota", "two", "--hard=secrets=2", "-n", "quota-race")
    env = dict(os.environ, KUBECONFIG=str(srv.kubeconfig), HOME=str(srv.data_dir))
    racers = [subprocess.Popen(["kubectl", "create", "secret", "generic", f"s{i}", "--from-literal=k=v",
                                "-n", "quota-race"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=env) for i in range(8)]
    results = [(r.wait(timeout=60), r.communicate()[1]) for r in racers]
    assert sum(1 for code, _ in results if code == 0) == 2, results
    assert all("exceeded quota: two" in err for code, err in results if code != 0), results
    names = srv.kubectl("get", "secrets", "-n", "quota-race", "-o", "name").stdout.split()
    assert len(names) == 2


def test_pod_security_on_updates_and_namespace_labels(srv: Server) -> None:
    namespace(srv, "psa-upd")
    srv.kubectl("apply", "-n", "psa-upd", "-f", "-", input=pod("host", hostNetwork=True))
    raised = srv.kubectl("label", "namespace", "psa-upd", "pod-security.kubernetes.io/enforce=baseline")
    assert ('Warning: existing pods in namespace "psa-upd" violate the new PodSecurity enforce level '
            '"baseline:latest"') in raised.stderr
    assert "Warning: host: host namespaces" in raised.stderr
    # an update that cannot change what is checked is allowed, a new image is evaluated
    srv.kubectl("label", "pod", "host", "-n", "psa-upd", "touched=yes")
    image = srv.kubectl("set", "image", "pod/host", "app=busybox:2", "-n", "psa-upd", check=False)
    assert 'pods "host" is forbidden: violates PodSecurity "baseline:latest": host namespaces (hostNetwork=true)' \
        in image.stderr
    bad = srv.kubectl("label", "namespace", "psa-upd", "pod-security.kubernetes.io/enforce=strict", "--overwrite",
                      check=False)
    assert ('The Namespace "psa-upd" is invalid: metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: '
            '"strict": must be one of privileged, baseline, restricted') in bad.stderr
    versioned = srv.kubectl("create", "-f", "-", check=False, input=json.dumps({
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "psa-versioned", "labels": {
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/enforce-version": "v1.22"}}}))
    assert versioned.returncode == 0, versioned.stderr
    refused = srv.kubectl("apply", "-n", "psa-versioned", "-f", "-", input=pod("loose"), check=False)
    assert 'violates PodSecurity "restricted:v1.22"' in refused.stderr


def test_immortal_namespaces_may_not_be_deleted(srv: Server) -> None:
    for name in ("default", "kube-system", "kube-public"):
        refused = srv.kubectl("delete", "namespace", name, check=False)
        assert f'namespaces "{name}" is forbidden: this namespace may not be deleted' in refused.stderr
    assert "deletionTimestamp" not in srv.kubectl("get", "namespace", "kube-public", "-o", "json").stdout


def test_scoped_quota(srv: Server) -> None:
    namespace(srv, "quota-scope")
    srv.kubectl("create", "quota", "best", "--hard=pods=1", "--scopes=BestEffort", "-n", "quota-scope")
    srv.kubectl("apply", "-n", "quota-scope", "-f", "-", input=pod("free-1"))
    second = srv.kubectl("apply", "-n", "quota-scope", "-f", "-", input=pod("free-2"), check=False)
    assert "exceeded quota: best, requested: pods=1, used: pods=1, limited: pods=1" in second.stderr
    sized = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "sized"}, "spec": {"containers": [
        {"name": "app", "image": "busybox", "resources": {"requests": {"cpu": "10m"}}}]}}
    srv.kubectl("apply", "-n", "quota-scope", "-f", "-", input=json.dumps(sized))  # not BestEffort: not counted
