"""The audit log: a policy file picks the level per request; events are audit.k8s.io/v1 JSON lines."""

from __future__ import annotations

import json
import subprocess
import sys
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


def test_audit_levels_follow_the_policy(tmp_path: Path) -> None:
    workdir = tmp_path
    (workdir / "policy.yaml").write_text(POLICY)
    log = workdir / "audit.log"
    with temporary_server("kubelite-audit-srv-", "--audit-log-path", str(log), "--audit-policy-file",
                          str(workdir / "policy.yaml"), "--audit-log-maxsize", "1", "--audit-log-maxbackup", "3",
                          "--audit-log-maxage", "7") as server:
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


ADMISSION = """
apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: PodSecurity
  configuration:
    apiVersion: pod-security.admission.config.k8s.io/v1
    kind: PodSecurityConfiguration
    defaults:
      enforce: baseline
      audit: restricted
    exemptions:
      namespaces: [tools]
"""


def test_pod_security_audit_annotations_defaults_and_exemptions(tmp_path: Path) -> None:
    """--admission-control-config-file: unlabelled namespaces enforce the configured baseline, the audit level's
    violations land in the audit event, an exempt namespace admits anything (and says why in the event)."""
    workdir = tmp_path
    (workdir / "admission.yaml").write_text(ADMISSION)
    log = workdir / "audit.log"
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
           "spec": {"containers": [{"name": "app", "image": "busybox"}]}}
    host = {**pod, "metadata": {"name": "host"}, "spec": {**pod["spec"], "hostPID": True}}
    with temporary_server("kubelite-psa-srv-", "--audit-log-path", str(log), "--admission-control-config-file",
                          str(workdir / "admission.yaml")) as server:
        server.kubectl("create", "-f", "-", input=json.dumps(pod))
        refused = server.kubectl("create", "-f", "-", input=json.dumps(host), check=False)
        assert 'violates PodSecurity "baseline:latest": host namespaces (hostPID=true)' in refused.stderr
        server.kubectl("create", "namespace", "tools")
        server.kubectl("create", "-n", "tools", "-f", "-", input=json.dumps(host))
        created = events(log, lambda e: e["verb"] == "create" and e.get("objectRef", {}).get("resource") == "pods"
                         and e["objectRef"].get("namespace") == "default" and e["responseStatus"]["code"] == 201)
        denied = events(log, lambda e: e["verb"] == "create" and e.get("objectRef", {}).get("resource") == "pods"
                        and e["responseStatus"]["code"] == 403)
        exempt = events(log, lambda e: e["verb"] == "create" and e.get("objectRef", {}).get("namespace") == "tools"
                        and e.get("objectRef", {}).get("resource") == "pods")
    annotations = created[0]["annotations"]
    assert annotations["pod-security.kubernetes.io/enforce-policy"] == "baseline:latest"
    assert annotations["pod-security.kubernetes.io/audit-violations"].startswith(
        'would violate PodSecurity "restricted:latest": allowPrivilegeEscalation != false')
    assert "host namespaces (hostPID=true)" in denied[0]["annotations"]["pod-security.kubernetes.io/audit-violations"]
    assert exempt[0]["annotations"]["pod-security.kubernetes.io/exempt"] == "namespace"


def test_bad_admission_configuration_is_one_clear_line(tmp_path: Path) -> None:
    (tmp_path / "admission.yaml").write_text("apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\n"
                                             "plugins:\n- name: PodSecurity\n  configuration:\n"
                                             "    apiVersion: pod-security.admission.config.k8s.io/v1\n"
                                             "    kind: PodSecurityConfiguration\n    defaults: {enforce: strict}\n")
    done = subprocess.run([sys.executable, "-m", "kubelite", "server", "--data-dir", str(tmp_path / "d"),
                           "--admission-control-config-file", str(tmp_path / "admission.yaml")],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0
    assert 'defaults.enforce: Invalid value: "strict": must be one of privileged, baseline, restricted' in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "d").exists()
