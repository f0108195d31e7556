"""kubectl's client-side validation against a real server: it reads /openapi/v2 as gnostic protobuf.

`kubectl apply -f` of a `kind: List` cannot be validated by the server (a List is no resource), so
kubectl validates it itself against the protobuf OpenAPI v2 document, built-in kinds and custom
resources alike, and reports problems in upstream's words before it sends anything.
"""

from __future__ import annotations

import gzip
import json
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

import pytest
from e2e_harness import Server, admin_ssl_context

from kubelite.api.openapi import openapiv2_pb2

pytestmark = [pytest.mark.e2e]

KUBECTL_ACCEPT = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
PROTOBUF = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
IGNORE = "if you choose to ignore these errors, turn validation off with --validate=false"

CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: crontabs.validation.kubelite.io
spec:
  group: validation.kubelite.io
  scope: Namespaced
  names: {plural: crontabs, singular: crontab, kind: CronTab}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              cronSpec: {type: string}
              replicas: {type: integer}
              note: {type: string, nullable: true}
              extra: {type: object, x-kubernetes-preserve-unknown-fields: true}
              template:
                type: object
                x-kubernetes-embedded-resource: true
                properties:
                  data: {type: object, additionalProperties: {type: string}}
"""


def namespace(server: Server) -> str:
    name = f"cv-{uuid.uuid4().hex[:8]}"
    server.kubectl("create", "namespace", name)
    return name


def as_list(*items: dict[str, Any]) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": list(items)})


def configmap(name: str, ns: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns},
            "data": {"k": "v"}}


def deployment(name: str, ns: str, **spec_extra: Any) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}}, **spec_extra,
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}


def crontab(name: str, ns: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "validation.kubelite.io/v1", "kind": "CronTab", "metadata": {"name": name, "namespace": ns},
            "spec": spec}


def absent(server: Server, ns: str, *resources: str) -> bool:
    return all(server.kubectl("get", r, "-n", ns, check=False).returncode != 0 for r in resources)


def get(server: Server, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    """One GET as the admin: status, headers (lower-cased names) and the raw body."""
    request = urllib.request.Request(f"https://127.0.0.1:{server.port}{path}", headers=headers)
    try:
        with urllib.request.urlopen(request, context=admin_ssl_context(server), timeout=30) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


def test_apply_of_a_list_creates_every_item(server: Server) -> None:
    ns = namespace(server)
    done = server.kubectl("apply", "-f", "-", input=as_list(configmap("settings", ns), deployment("web", ns)))
    assert "configmap/settings created" in done.stdout
    assert "deployment.apps/web created" in done.stdout
    server.kubectl("get", "configmap/settings", "deployment/web", "-n", ns)


def test_an_unknown_field_in_a_list_is_reported_like_upstream_and_nothing_is_sent(server: Server) -> None:
    ns = namespace(server)
    manifest = as_list(configmap("early", ns), deployment("web", ns, bogusField=3))
    for flag in ("--validate=strict", "--validate=true"):
        done = server.kubectl("apply", flag, "-f", "-", input=manifest, check=False)
        assert done.returncode == 1
        assert done.stderr.strip() == (
            'error: error validating "STDIN": error validating data: ValidationError(Deployment.spec): '
            f'unknown field "bogusField" in io.k8s.api.apps.v1.DeploymentSpec; {IGNORE}')
    assert absent(server, ns, "configmap/early", "deployment/web"), "validation fails before any request"
    # several problems are listed together, with the path into the object
    manifest = as_list(deployment("web", ns, bogusField=3, replicas="two"))
    done = server.kubectl("apply", "-f", "-", input=manifest, check=False)
    assert done.returncode == 1
    assert ('ValidationError(Deployment.spec.replicas): invalid type for io.k8s.api.apps.v1.DeploymentSpec.replicas: '
            'got "string", expected "integer"') in done.stderr
    assert 'ValidationError(Deployment.spec): unknown field "bogusField"' in done.stderr
    # without client-side validation the server decides (and drops the unknown field, as upstream's Ignore)
    done = server.kubectl("apply", "--validate=false", "-f", "-",
                          input=as_list(configmap("early", ns), deployment("web", ns, bogusField=3)))
    assert "deployment.apps/web created" in done.stdout


def test_custom_resources_in_a_list_are_validated_against_their_crd(server: Server) -> None:
    server.kubectl("apply", "-f", "-", input=CRD)
    ns = namespace(server)
    deadline = time.monotonic() + 15
    while server.kubectl("get", "crontabs", "-n", ns, check=False).returncode != 0:
        assert time.monotonic() < deadline, "the CRD's resource was never served"
        time.sleep(0.1)
    bad = as_list(crontab("good", ns, cronSpec="* * * * */5", replicas=2),
                  crontab("bad", ns, cronSpec="* * * * */5", replicas="three", bogus=True))
    done = server.kubectl("apply", "-f", "-", input=bad, check=False)
    assert done.returncode == 1
    assert done.stderr.strip() == (
        'error: error validating "STDIN": error validating data: ['
        'ValidationError(CronTab.spec): unknown field "bogus" in io.kubelite.validation.v1.CronTab.spec, '
        'ValidationError(CronTab.spec.replicas): invalid type for io.kubelite.validation.v1.CronTab.spec.replicas: '
        f'got "string", expected "integer"]; {IGNORE}')
    assert absent(server, ns, "crontab/good", "crontab/bad")
    # nullable and preserve-unknown-fields parts accept what the CRD allows
    embedded = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "inner"}, "data": {"k": "v"}}
    good = as_list(crontab("good", ns, cronSpec="* * * * */5", replicas=2, note=None, extra={"any": {"thing": 1}},
                           template=embedded),
                   configmap("next-to-it", ns))
    done = server.kubectl("apply", "-f", "-", input=good)
    assert "crontab.validation.kubelite.io/good created" in done.stdout
    assert "configmap/next-to-it created" in done.stdout


def test_openapi_v2_is_negotiated_and_cached_like_upstream(server: Server) -> None:
    status, headers, body = get(server, "/openapi/v2", {"Accept": KUBECTL_ACCEPT})
    assert status == 200 and headers["content-type"] == PROTOBUF and headers["vary"] == "Accept"
    document = openapiv2_pb2.Document()
    document.ParseFromString(body)
    assert document.swagger == "2.0"
    assert "io.k8s.api.apps.v1.Deployment" in {d.name for d in document.definitions.additional_properties}
    etag = headers["etag"]
    status, headers, body = get(server, "/openapi/v2", {"Accept": KUBECTL_ACCEPT, "If-None-Match": etag})
    assert (status, body) == (304, b"")
    status, headers, body = get(server, "/openapi/v2", {"Accept": "application/json"})
    assert status == 200 and headers["content-type"] == "application/json" and headers["etag"] == etag
    assert json.loads(body)["swagger"] == "2.0"
    status, headers, body = get(server, "/openapi/v2", {"Accept": KUBECTL_ACCEPT, "Accept-Encoding": "gzip"})
    assert status == 200 and headers["content-encoding"] == "gzip"
    assert openapiv2_pb2.Document.FromString(gzip.decompress(body)).swagger == "2.0"
    status, headers, body = get(server, "/openapi/v2", {"Accept": "text/html"})
    assert status == 406
    assert json.loads(body)["reason"] == "NotAcceptable"
