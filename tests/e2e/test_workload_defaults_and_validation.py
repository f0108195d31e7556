"""Workload kinds get upstream's defaults and validation through kubectl."""

from __future__ import annotations

import json
import uuid

import pytest
from e2e_harness import Server

pytestmark = [pytest.mark.e2e]


@pytest.fixture
def ns(server: Server) -> str:
    name = f"wl-{uuid.uuid4().hex[:6]}"
    server.kubectl("create", "namespace", name)
    return name


def test_deployment_defaults(server: Server, ns: str) -> None:
    server.kubectl("create", "deployment", "web", "-n", ns, "--image=busybox")
    spec = json.loads(server.kubectl("get", "deploy", "web", "-n", ns, "-o", "json").stdout)["spec"]
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
    assert (spec["revisionHistoryLimit"], spec["progressDeadlineSeconds"]) == (10, 600)
    assert spec["template"]["spec"]["restartPolicy"] == "Always"


def test_selector_must_match_template_labels(server: Server, ns: str) -> None:
    deploy = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bad"},
              "spec": {"selector": {"matchLabels": {"app": "a"}},
                       "template": {"metadata": {"labels": {"app": "b"}},
                                    "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}
    out = server.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(deploy), check=False)
    assert out.returncode != 0
    assert "`selector` does not match template `labels`" in out.stderr


def test_job_selector_generated_and_cron_schedule_checked(server: Server, ns: str) -> None:
    server.kubectl("create", "job", "once", "-n", ns, "--image=busybox", "--", "true")
    job = json.loads(server.kubectl("get", "job", "once", "-n", ns, "-o", "json").stdout)
    uid = job["metadata"]["uid"]
    assert job["spec"]["selector"]["matchLabels"] == {"batch.kubernetes.io/controller-uid": uid}
    assert job["spec"]["template"]["metadata"]["labels"]["controller-uid"] == uid
    assert job["spec"]["backoffLimit"] == 6
    bad = server.kubectl("create", "cronjob", "tick", "-n", ns, "--image=busybox", "--schedule=61 * * * *",
                         check=False)
    assert bad.returncode != 0 and "spec.schedule" in bad.stderr


def test_tls_secret_needs_its_keys(server: Server, ns: str) -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "t"}, "type": "kubernetes.io/tls",
              "data": {"tls.crt": "eA=="}}
    out = server.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(secret), check=False)
    assert out.returncode != 0 and "tls.key" in out.stderr
