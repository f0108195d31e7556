"""`kubectl delete namespace` deletes everything in it, then the namespace (the namespace controller)."""

from __future__ import annotations

import json
import uuid

import pytest
from e2e_harness import Server

pytestmark = [pytest.mark.e2e]


def test_deleting_a_namespace_deletes_its_contents(server: Server) -> None:
    ns = f"gone-{uuid.uuid4().hex[:6]}"
    server.kubectl("create", "namespace", ns)
    server.kubectl("create", "configmap", "c1", "-n", ns, "--from-literal=a=b")
    server.kubectl("create", "secret", "generic", "s1", "-n", ns, "--from-literal=a=b")
    server.kubectl("create", "deployment", "d1", "-n", ns, "--image=busybox")
    held = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "held", "finalizers": ["example.com/hold"]}}
    server.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(held))

    server.kubectl("delete", "namespace", ns, "--wait=false")
    status = json.loads(server.kubectl("get", "namespace", ns, "-o", "json").stdout)["status"]["phase"]
    assert status == "Terminating"
    create = server.kubectl("create", "configmap", "late", "-n", ns, check=False)
    assert create.returncode != 0 and "because it is being terminated" in create.stderr

    # the finalizer holds the last object (and so the namespace) until its owner lets go
    server.kubectl("wait", "--for=jsonpath={.metadata.deletionTimestamp}", "cm/held", "-n", ns, "--timeout=20s")
    assert server.kubectl("get", "namespace", ns, check=False).returncode == 0
    server.kubectl("patch", "cm", "held", "-n", ns, "--type=merge", "-p", '{"metadata":{"finalizers":null}}')
    server.kubectl("wait", "--for=delete", f"namespace/{ns}", "--timeout=30s")
    for kind in ("cm", "secret", "deploy"):
        left = server.kubectl("get", kind, "-n", ns, "-o", "name").stdout.split()
        assert left == [], (kind, left)


def test_namespaces_get_a_default_service_account_and_nodes_a_pod_cidr(server: Server) -> None:
    ns = f"sa-{uuid.uuid4().hex[:6]}"
    server.kubectl("create", "namespace", ns)
    server.kubectl("wait", "--for=jsonpath={.metadata.name}=default", "sa/default", "-n", ns, "--timeout=20s")
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": f"n-{uuid.uuid4().hex[:6]}"},
            "status": {"capacity": {"cpu": "2", "memory": "1Gi", "pods": "110"}}}
    server.kubectl("apply", "-f", "-", input=json.dumps(node))
    name = node["metadata"]["name"]  # type: ignore[index]
    server.kubectl("wait", "--for=jsonpath={.spec.podCIDR}", f"node/{name}", "--timeout=20s")
    cidr = json.loads(server.kubectl("get", "node", name, "-o", "json").stdout)["spec"]["podCIDR"]
    assert cidr.startswith("10.42.") and cidr.endswith("/24")
    server.kubectl("delete", "node", name)
