"""Stock kubectl against a real `kubelite server` on SQLite: what a user types must work as upstream."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid

import pytest
import yaml
from e2e_harness import Server

pytestmark = [pytest.mark.e2e]

MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: httpd
        image: busybox:1.36
        command: ["httpd", "-f", "-p", "8080"]
        ports:
        - containerPort: 8080
      - name: sidecar
        image: busybox:1.36
        command: ["sleep", "3600"]
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 8080
"""


@pytest.fixture
def ns(server: Server) -> str:
    name = f"t-{uuid.uuid4().hex[:8]}"
    server.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "Namespace",
                                                         "metadata": {"name": name}}))
    return name


def test_version_reports_kubernetes_132(server: Server) -> None:
    out = json.loads(server.kubectl("version", "-o", "json").stdout)
    assert out["serverVersion"]["major"] == "1"
    assert out["serverVersion"]["minor"] == "32"
    assert out["serverVersion"]["gitVersion"].startswith("v1.32.")


def test_api_resources_lists_builtin_kinds(server: Server) -> None:
    out = server.kubectl("api-resources", "--no-headers").stdout
    rows: dict[str, list[str]] = {}
    for line in out.splitlines():  # the first of a name: metrics.k8s.io lists pods and nodes too, after core
        rows.setdefault(line.split()[0], line.split())
    assert rows["deployments"] == ["deployments", "deploy", "apps/v1", "true", "Deployment"]
    assert rows["namespaces"] == ["namespaces", "ns", "v1", "false", "Namespace"]
    assert rows["pods"] == ["pods", "po", "v1", "true", "Pod"]
    assert "leases" in rows and "clusterrolebindings" in rows


def test_create_subcommands_send_protobuf_and_work(server: Server) -> None:
    # kubectl's typed `create` subcommands send application/vnd.kubernetes.protobuf bodies
    name = f"pb-{uuid.uuid4().hex[:8]}"
    assert server.kubectl("create", "namespace", name).stdout.strip() == f"namespace/{name} created"
    server.kubectl("create", "configmap", "cfg", "-n", name, "--from-literal=a=b")
    server.kubectl("create", "secret", "generic", "sec", "-n", name, "--from-literal=k=v")
    server.kubectl("create", "deployment", "web", "-n", name, "--image=busybox", "--replicas=3")
    cm = json.loads(server.kubectl("get", "cm", "cfg", "-n", name, "-o", "json").stdout)
    assert cm["data"] == {"a": "b"}
    secret = json.loads(server.kubectl("get", "secret", "sec", "-n", name, "-o", "json").stdout)
    assert secret["data"] == {"k": "dg=="} and secret["type"] == "Opaque"
    deploy = json.loads(server.kubectl("get", "deploy", "web", "-n", name, "-o", "json").stdout)
    assert deploy["spec"]["replicas"] == 3
    assert deploy["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox"


def test_system_namespaces_exist(server: Server) -> None:
    out = server.kubectl("get", "namespaces", "-o", "name").stdout.split()
    for name in ("default", "kube-system", "kube-public", "kube-node-lease"):
        assert f"namespace/{name}" in out


def test_apply_deployment_and_service_then_read_back(server: Server, ns: str) -> None:
    applied = server.kubectl("apply", "-n", ns, "-f", "-", input=MANIFEST).stdout
    assert "deployment.apps/web created" in applied
    assert "service/web created" in applied
    again = server.kubectl("apply", "-n", ns, "-f", "-", input=MANIFEST).stdout
    assert "deployment.apps/web unchanged" in again

    deploy = json.loads(server.kubectl("get", "deploy", "web", "-n", ns, "-o", "json").stdout)
    assert deploy["spec"]["replicas"] == 2
    assert deploy["metadata"]["generation"] == 1
    assert [c["name"] for c in deploy["spec"]["template"]["spec"]["containers"]] == ["httpd", "sidecar"]
    assert "kubectl.kubernetes.io/last-applied-configuration" in deploy["metadata"]["annotations"]

    as_yaml = yaml.safe_load(server.kubectl("get", "svc", "web", "-n", ns, "-o", "yaml").stdout)
    assert as_yaml["spec"]["ports"][0]["port"] == 80

    table = server.kubectl("get", "deploy", "-n", ns, "-o", "wide").stdout.splitlines()
    assert table[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES",
                                "SELECTOR"]
    assert table[1].split()[:2] == ["web", "0/2"]
    assert "httpd,sidecar" in table[1]


def test_apply_change_updates_generation(server: Server, ns: str) -> None:
    server.kubectl("apply", "-n", ns, "-f", "-", input=MANIFEST)
    changed = MANIFEST.replace("replicas: 2", "replicas: 3").replace("sleep\", \"3600", "sleep\", \"7200")
    out = server.kubectl("apply", "-n", ns, "-f", "-", input=changed).stdout
    assert "deployment.apps/web configured" in out
    deploy = json.loads(server.kubectl("get", "deploy", "web", "-n", ns, "-o", "json").stdout)
    assert deploy["spec"]["replicas"] == 3
    assert deploy["spec"]["template"]["spec"]["containers"][1]["command"] == ["sleep", "7200"]
    assert deploy["metadata"]["generation"] == 2


def test_label_annotate_and_selectors(server: Server, ns: str) -> None:
    server.kubectl("create", "configmap", "a", "-n", ns, "--from-literal=k=v")
    server.kubectl("create", "configmap", "b", "-n", ns, "--from-literal=k=v")
    server.kubectl("label", "configmap", "a", "-n", ns, "tier=front")
    server.kubectl("annotate", "configmap", "a", "-n", ns, "note=hello")
    names = server.kubectl("get", "cm", "-n", ns, "-l", "tier=front", "-o", "name").stdout.split()
    assert names == ["configmap/a"]
    names = server.kubectl("get", "cm", "-n", ns, "-l", "tier!=front", "-o", "name").stdout.split()
    assert "configmap/b" in names and "configmap/a" not in names
    by_field = server.kubectl("get", "cm", "-n", ns, "--field-selector", "metadata.name=b", "-o", "name")
    assert by_field.stdout.split() == ["configmap/b"]
    cm = json.loads(server.kubectl("get", "cm", "a", "-n", ns, "-o", "json").stdout)
    assert cm["metadata"]["annotations"]["note"] == "hello"
    server.kubectl("label", "configmap", "a", "-n", ns, "tier-")
    cm = json.loads(server.kubectl("get", "cm", "a", "-n", ns, "-o", "json").stdout)
    assert "tier" not in (cm["metadata"].get("labels") or {})


def test_patch_json_merge_and_strategic(server: Server, ns: str) -> None:
    server.kubectl("apply", "-n", ns, "-f", "-", input=MANIFEST)
    server.kubectl("patch", "deploy", "web", "-n", ns, "--type=json",
                   "-p", '[{"op":"replace","path":"/spec/replicas","value":4}]')
    server.kubectl("patch", "deploy", "web", "-n", ns, "--type=merge",
                   "-p", '{"metadata":{"labels":{"merged":"yes"}}}')
    # strategic: containers merge by name, so the sidecar survives and httpd gets a new image
    server.kubectl("patch", "deploy", "web", "-n", ns,
                   "-p", '{"spec":{"template":{"spec":{"containers":[{"name":"httpd","image":"busybox:1.37"}]}}}}')
    deploy = json.loads(server.kubectl("get", "deploy", "web", "-n", ns, "-o", "json").stdout)
    assert deploy["spec"]["replicas"] == 4
    assert deploy["metadata"]["labels"]["merged"] == "yes"
    containers = {c["name"]: c["image"] for c in deploy["spec"]["template"]["spec"]["containers"]}
    assert containers == {"httpd": "busybox:1.37", "sidecar": "busybox:1.36"}


def test_set_image_and_scale(server: Server, ns: str) -> None:
    server.kubectl("apply", "-n", ns, "-f", "-", input=MANIFEST)
    server.kubectl("set", "image", "deploy/web", "-n", ns, "httpd=busybox:1.35")
    server.kubectl("scale", "deploy", "web", "-n", ns, "--replicas=5")
    deploy = json.loads(server.kubectl("get", "deploy", "web", "-n", ns, "-o", "json").stdout)
    assert deploy["spec"]["replicas"] == 5
    assert deploy["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:1.35"


def test_replace_with_stale_resource_version_conflicts(server: Server, ns: str) -> None:
    server.kubectl("create", "configmap", "c", "-n", ns, "--from-literal=k=v1")
    cm = json.loads(server.kubectl("get", "cm", "c", "-n", ns, "-o", "json").stdout)
    cm["data"]["k"] = "v2"
    server.kubectl("replace", "-f", "-", input=json.dumps(cm))
    cm["data"]["k"] = "v3"  # still carries the old resourceVersion
    stale = server.kubectl("replace", "-f", "-", input=json.dumps(cm), check=False)
    assert stale.returncode != 0
    assert "the object has been modified" in stale.stderr
    current = json.loads(server.kubectl("get", "cm", "c", "-n", ns, "-o", "json").stdout)
    assert current["data"]["k"] == "v2"


def test_get_watch_streams_table_rows(server: Server, ns: str) -> None:
    watcher = subprocess.Popen(["kubectl", "get", "configmaps", "-n", ns, "-w", "--output-watch-events"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=dict(os.environ, KUBECONFIG=str(server.kubeconfig)))
    try:
        time.sleep(1.0)
        server.kubectl("create", "configmap", "watched", "-n", ns, "--from-literal=a=b")
        server.kubectl("delete", "configmap", "watched", "-n", ns)
        assert watcher.stdout is not None
        lines: list[list[str]] = []
        while len(lines) < 3:
            line = watcher.stdout.readline().split()
            if line[1:2] != ["kube-root-ca.crt"]:  # published into every namespace, as upstream
                lines.append(line)
    finally:
        watcher.kill()
        watcher.wait()
    assert lines[0] == ["EVENT", "NAME", "DATA", "AGE"]
    assert lines[1][:3] == ["ADDED", "watched", "1"]
    assert lines[2][:3] == ["DELETED", "watched", "1"]


def test_delete_deployment_and_dry_run(server: Server, ns: str) -> None:
    server.kubectl("apply", "-n", ns, "-f", "-", input=MANIFEST)
    dry = server.kubectl("delete", "deploy", "web", "-n", ns, "--dry-run=server").stdout
    assert "deleted (server dry run)" in dry
    server.kubectl("get", "deploy", "web", "-n", ns)
    server.kubectl("delete", "deploy", "web", "-n", ns, "--cascade=background")
    gone = server.kubectl("get", "deploy", "web", "-n", ns, check=False)
    assert gone.returncode == 1
    assert 'deployments.apps "web" not found' in gone.stderr


def test_explain_uses_served_openapi(server: Server) -> None:
    out = server.kubectl("explain", "deployment.spec").stdout
    assert "KIND:" in out and "Deployment" in out
    assert "replicas" in out and "template" in out


def test_invalid_objects_are_rejected_with_field_causes(server: Server, ns: str) -> None:
    bad_name = server.kubectl("create", "configmap", "Bad_Name", "-n", ns, check=False)
    assert bad_name.returncode != 0
    assert 'ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name"' in bad_name.stderr
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}}
    no_image = server.kubectl("create", "-n", ns, "-f", "-", input=json.dumps(pod), check=False)
    assert no_image.returncode != 0
    assert "spec.containers[0].image: Required value" in no_image.stderr
    unknown = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "u"}, "data": {}, "bogus": 1}
    strict = server.kubectl("create", "-n", ns, "-f", "-", input=json.dumps(unknown), check=False)
    assert strict.returncode != 0
    assert 'unknown field "bogus"' in strict.stderr
    assert server.kubectl("get", "cm", "u", "-n", ns, check=False).returncode == 1


def test_missing_namespace_is_not_found(server: Server) -> None:
    out = server.kubectl("create", "configmap", "x", "-n", "does-not-exist", check=False)
    assert out.returncode != 0
    assert 'namespaces "does-not-exist" not found' in out.stderr
