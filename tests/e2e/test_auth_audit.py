"""The audit log: a policy file picks the level per request; events are audit.k8s.io/v1 JSON lines."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from e2e_harness import temporary_server

POLICY = """
apiVersion: audit.k8s.io/v1
kind: Policy
rules:
- level: Metadata
  resources:
  - group: ""
    resources: ["secrets"]
- level: RequestResponse
  resources:
  - group: ""
    resources: ["configmaps"]
- level: None
"""


def events(path: Path, predicate: object, timeout: float = 10.0) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout
    while True:
        found = [e for e in (json.loads(line) for line in path.read_text().splitlines()) if predicate(e)]  # type: ignore[operator]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_audit_levels_follow_the_policy() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="kubelite-audit-"))
    (workdir / "policy.yaml").write_text(POLICY)
    log = workdir / "audit.log"
    with temporary_server("kubelite-audit-srv-", "--audit-log-path", str(log), "--audit-policy-file",
                          str(workdir / "policy.yaml")) as server:
        server.kubectl("create", "secret", "generic", "s", "--from-literal=password=hunter2")
        server.kubectl("create", "configmap", "c", "--from-literal=k=v")
        server.kubectl("get", "pods")
        secret = events(log, lambda e: e["verb"] == "create" and e["objectRef"]["resource"] == "secrets")
        configmap = events(log, lambda e: e["verb"] == "create" and e["objectRef"]["resource"] == "configmaps")
    assert len(secret) == 1 and secret[0]["level"] == "Metadata"
    assert "requestObject" not in secret[0] and b"hunter2" not in log.read_bytes()
    assert secret[0]["user"]["username"] == "system:admin"
    assert secret[0]["responseStatus"]["code"] == 201
    assert secret[0]["annotations"]["authorization.k8s.io/decision"] == "allow"
    assert configmap[0]["level"] == "RequestResponse"
    assert configmap[0]["requestObject"]["data"] == {"k": "v"}
    assert configmap[0]["responseObject"]["metadata"]["name"] == "c"
    assert not [e for e in (json.loads(x) for x in log.read_text().splitlines())
                if e.get("objectRef", {}).get("resource") == "pods"]  # level None
    assert log.stat().st_mode & 0o777 == 0o600
