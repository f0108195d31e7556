"""CustomResourceDefinitions with stock kubectl: define a kind, serve it, validate it, delete it."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from e2e_harness import Server

pytestmark = [pytest.mark.e2e]

CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.kubelite.io
spec:
  group: example.kubelite.io
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale: {specReplicasPath: .spec.replicas, statusReplicasPath: .status.replicas}
    additionalPrinterColumns:
    - {name: Size, type: string, jsonPath: .spec.size}
    - {name: Replicas, type: integer, jsonPath: .spec.replicas}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size: {type: string, enum: [S, M, L]}
              replicas: {type: integer, minimum: 0, default: 1}
              color: {type: string}
          status:
            type: object
            properties:
              replicas: {type: integer}
"""


def widget(name: str, **spec: object) -> str:
    return json.dumps({"apiVersion": "example.kubelite.io/v1", "kind": "Widget", "metadata": {"name": name},
                       "spec": spec})


def wait_for_kind(server: Server, ns: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if server.kubectl("get", "widgets", "-n", ns, check=False).returncode == 0:
            return
        time.sleep(0.1)
    raise AssertionError("the Widget kind was never served")


def test_crd_lifecycle_with_kubectl(server: Server) -> None:
    ns = f"crd-{uuid.uuid4().hex[:8]}"
    server.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "Namespace",
                                                         "metadata": {"name": ns}}))
    server.kubectl("apply", "-f", "-", input=CRD)
    server.kubectl("wait", "--for=condition=established", "crd/widgets.example.kubelite.io", "--timeout=10s")
    wait_for_kind(server, ns)

    resources = server.kubectl("api-resources", "--api-group=example.kubelite.io", "--no-headers").stdout.split()
    assert resources == ["widgets", "wd", "example.kubelite.io/v1", "true", "Widget"]

    server.kubectl("apply", "-n", ns, "-f", "-", input=widget("small", size="S", color="red"))
    obj = json.loads(server.kubectl("get", "wd", "small", "-n", ns, "-o", "json").stdout)
    assert obj["spec"] == {"size": "S", "color": "red", "replicas": 1}, "schema default applied"

    table = server.kubectl("get", "widgets", "-n", ns).stdout.splitlines()
    assert table[0].split() == ["NAME", "SIZE", "REPLICAS"]
    assert table[1].split() == ["small", "S", "1"]

    bad = server.kubectl("apply", "-n", ns, "-f", "-", input=widget("huge", size="XL"), check=False)
    assert bad.returncode != 0
    assert 'spec.size: Unsupported value: "XL": supported values: "S", "M", "L"' in bad.stderr

    unknown = server.kubectl("apply", "-n", ns, "-f", "-", input=widget("odd", size="M", shape="round"),
                             check=False)
    assert unknown.returncode != 0 and 'unknown field "spec.shape"' in unknown.stderr

    server.kubectl("scale", "widget", "small", "-n", ns, "--replicas=4")
    assert json.loads(server.kubectl("get", "wd", "small", "-n", ns, "-o", "json").stdout)["spec"]["replicas"] == 4

    server.kubectl("patch", "widget", "small", "-n", ns, "--type=merge", "-p", '{"spec":{"color":"blue"}}')
    assert json.loads(server.kubectl("get", "wd", "small", "-n", ns, "-o", "json").stdout)["spec"]["color"] == "blue"

    explain = server.kubectl("explain", "widgets.spec").stdout
    assert "size" in explain and "replicas" in explain

    server.kubectl("delete", "crd", "widgets.example.kubelite.io", "--timeout=20s")
    gone = server.kubectl("get", "widgets", "-n", ns, check=False)
    assert gone.returncode != 0
    # kubectl says one or the other depending on whether its discovery cache still knew the kind
    assert ('the server doesn\'t have a resource type "widgets"' in gone.stderr
            or "the server could not find the requested resource" in gone.stderr), gone.stderr
