"""`kubectl apply --server-side`: managedFields, conflicts with other managers, --force-conflicts."""

from __future__ import annotations

import json
import uuid

import pytest
from e2e_harness import Server

pytestmark = [pytest.mark.e2e]

DEPLOY = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: ssa
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: ssa}}
  template:
    metadata:
      labels: {{app: ssa}}
    spec:
      containers:
      - name: main
        image: busybox:{tag}
"""


def test_server_side_apply_owns_fields_and_reports_conflicts(server: Server) -> None:
    ns = f"ssa-{uuid.uuid4().hex[:6]}"
    server.kubectl("create", "namespace", ns)
    out = server.kubectl("apply", "--server-side", "-n", ns, "-f", "-", input=DEPLOY.format(replicas=2, tag="1.36"))
    assert "deployment.apps/ssa serverside-applied" in out.stdout
    deploy = json.loads(server.kubectl("get", "deploy", "ssa", "-n", ns, "-o", "json",
                                       "--show-managed-fields").stdout)
    managers = {(m["manager"], m["operation"]) for m in deploy["metadata"]["managedFields"]}
    assert ("kubectl", "Apply") in managers
    applied = next(m for m in deploy["metadata"]["managedFields"] if m["manager"] == "kubectl")
    assert "f:replicas" in applied["fieldsV1"]["f:spec"]

    # another writer takes spec.replicas; re-applying a different value now conflicts
    server.kubectl("scale", "deploy", "ssa", "-n", ns, "--replicas=5")
    conflict = server.kubectl("apply", "--server-side", "-n", ns, "-f", "-",
                              input=DEPLOY.format(replicas=3, tag="1.36"), check=False)
    assert conflict.returncode != 0
    assert "Apply failed with 1 conflict" in conflict.stderr
    assert ".spec.replicas" in conflict.stderr
    assert json.loads(server.kubectl("get", "deploy", "ssa", "-n", ns, "-o", "json").stdout)["spec"]["replicas"] == 5

    server.kubectl("apply", "--server-side", "--force-conflicts", "-n", ns, "-f", "-",
                   input=DEPLOY.format(replicas=3, tag="1.37"))
    deploy = json.loads(server.kubectl("get", "deploy", "ssa", "-n", ns, "-o", "json").stdout)
    assert deploy["spec"]["replicas"] == 3
    assert deploy["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:1.37"


def test_server_side_apply_creates_and_prunes_its_own_fields(server: Server) -> None:
    ns = f"ssa-{uuid.uuid4().hex[:6]}"
    server.kubectl("create", "namespace", ns)
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "labels": {"a": "1"}},
          "data": {"x": "1", "y": "2"}}
    server.kubectl("apply", "--server-side", "--field-manager=tool", "-n", ns, "-f", "-", input=json.dumps(cm))
    del cm["data"]["y"]  # type: ignore[attr-defined]
    server.kubectl("apply", "--server-side", "--field-manager=tool", "-n", ns, "-f", "-", input=json.dumps(cm))
    got = json.loads(server.kubectl("get", "cm", "cfg", "-n", ns, "-o", "json").stdout)
    assert got["data"] == {"x": "1"}, "a field the applier stopped setting is removed"
