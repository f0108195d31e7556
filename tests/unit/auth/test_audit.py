"""Audit policy matching and event shape."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from kubelite.controlplane.auth.audit import AuditLog, AuditPolicyError, parse_policy
from kubelite.controlplane.auth.authentication import UserInfo
from kubelite.controlplane.auth.authorization import request_attributes

POLICY = """
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: None
  users: ["system:kube-proxy"]
- level: Metadata
  resources: [{group: "", resources: ["secrets", "pods/log"]}]
- level: Request
  verbs: ["create"]
  namespaces: ["prod"]
- level: Metadata
  nonResourceURLs: ["/healthz*"]
"""

ALICE = UserInfo("alice", "", ("system:authenticated",))


@pytest.mark.parametrize(("user", "method", "path", "level"), [
    pytest.param(UserInfo("system:kube-proxy"), "GET", "/api/v1/namespaces/a/secrets", "None", id="user"),
    pytest.param(ALICE, "GET", "/api/v1/namespaces/a/secrets/s", "Metadata", id="resource"),
    pytest.param(ALICE, "GET", "/api/v1/namespaces/a/pods/p/log", "Metadata", id="subresource"),
    pytest.param(ALICE, "GET", "/api/v1/namespaces/a/pods/p", "None", id="pods-not-listed"),
    pytest.param(ALICE, "POST", "/api/v1/namespaces/prod/configmaps", "Request", id="namespace-verb"),
    pytest.param(ALICE, "GET", "/healthz/etcd", "Metadata", id="non-resource"),
])
def test_policy_levels(user: UserInfo, method: str, path: str, level: str) -> None:
    policy = parse_policy(POLICY)
    assert policy.level(request_attributes(user, method, path, {}))[0] == level


@pytest.mark.parametrize("text", ["kind: Policy", "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: []",
                                  "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: Loud}]"])
def test_bad_policies(text: str) -> None:
    with pytest.raises(AuditPolicyError):
        parse_policy(text)


def test_event_lines(tmp_path: Path) -> None:
    log = AuditLog(path=tmp_path / "a.log", policy=parse_policy(POLICY))
    attributes = request_attributes(ALICE, "POST", "/api/v1/namespaces/prod/configmaps", {})
    event = log.record(attributes=attributes, uri="/api/v1/namespaces/prod/configmaps", source_ip="127.0.0.1",
                       user_agent="kubectl", code=201, received=dt.datetime.now(dt.UTC),
                       request_body=b'{"data":{"k":"v"}}', response_body=b'{"x":1}')
    assert event is not None and event["requestObject"] == {"data": {"k": "v"}} and "responseObject" not in event
    log.close()
    line = json.loads((tmp_path / "a.log").read_text())
    assert line["objectRef"] == {"resource": "configmaps", "apiVersion": "v1", "namespace": "prod"}
    assert line["stage"] == "ResponseComplete" and line["user"]["username"] == "alice"
