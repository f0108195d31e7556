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


def test_rotation_keeps_max_backups(tmp_path: Path) -> None:
    log = AuditLog(path=tmp_path / "audit.log", policy=parse_policy(POLICY), max_megabytes=1, max_backups=2)
    attributes = request_attributes(ALICE, "GET", "/api/v1/namespaces/a/secrets/s", {})
    log.max_bytes = 2000  # a few events per file instead of a megabyte's worth
    received = dt.datetime.now(dt.UTC)
    for _ in range(60):
        log.record(attributes=attributes, uri="/api/v1/namespaces/a/secrets/s", source_ip="127.0.0.1",
                   user_agent="kubectl", code=200, received=received)
    log.close()
    backups = log.backups()
    assert len(backups) == 2  # older ones were removed
    for path in [*backups, tmp_path / "audit.log"]:
        assert path.stat().st_size <= 2000 and path.stat().st_mode & 0o777 == 0o600
        assert all(json.loads(line)["kind"] == "Event" for line in path.read_text().splitlines())
    assert all(p.name.startswith("audit-") and p.name.endswith(".log") for p in backups)


def test_negative_rotation_flag_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from kubelite import cli

    code = cli.main(["server", "--data-dir", str(tmp_path / "d"), "--audit-log-path", str(tmp_path / "a.log"),
                     "--audit-log-maxbackup", "-1", "--disable-agent"])
    assert code != 0
    assert "--audit-log-maxbackup -1: must not be negative" in capsys.readouterr().err
    assert not (tmp_path / "d").exists() and not (tmp_path / "a.log").exists()
