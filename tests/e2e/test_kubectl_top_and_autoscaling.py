"""`kubectl top` and a HorizontalPodAutoscaler on a real server with its embedded agent and real containerd.

A Deployment's pod burns CPU (capped by a 100m limit, so the test costs at most two tenths of a core);
the server's scraper reads the kubelet's /metrics/resource every 2 s (``--metric-resolution``) and serves
metrics.k8s.io, so `kubectl top pod` shows its CPU and `kubectl top node` the node. `kubectl autoscale`
then makes an HPA with a 50 % CPU target (the pod uses ~500 % of its 20m request) and the controller,
synced every 2 s, scales the Deployment to its maximum of 2 through the scale subresource, with the
SuccessfulRescale Event and upstream's `kubectl get hpa` columns.

The server is started as tests/integration/test_kubelet_embedded_agent.py starts it (hostNetwork pods
only, no pod network or service proxy, a free kubelet port); every pod's cgroup, the shims and the data
dir are released afterwards (tests/integration/cri/cri_harness.py), even on failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "cri"))
from cri_harness import _release_host_state
from e2e_harness import free_port

from kubelite.cri import ContainerdPaths
from kubelite.cri.images import busybox_rootfs

pytestmark = [pytest.mark.root, pytest.mark.e2e]

IMAGE = "kubelite.local/packed:burn"


def _kubectl(kubeconfig: Path, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["kubectl", *args], input=input, capture_output=True, text=True, timeout=60, check=False,
                          env=dict(os.environ, KUBECONFIG=str(kubeconfig), HOME=str(kubeconfig.parent)))


def _wait(what: str, probe: Any, logs: list[Path], timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = probe()
        if result:
            return result
        time.sleep(0.5)
    tails = "\n".join(f"--- {log}\n{log.read_text()[-3000:]}" for log in logs if log.exists())
    raise AssertionError(f"timed out waiting for {what}\n{tails}")


def _deployment() -> dict[str, Any]:
    labels = {"app": "burn"}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "burn", "namespace": "default"},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": {
                "metadata": {"labels": labels},
                # the node has no pod network (hostNetwork pods only), so it stays NotReady: tolerate that
                "spec": {"hostNetwork": True, "terminationGracePeriodSeconds": 0,
                         "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists"}],
                         "containers": [{"name": "burn", "image": IMAGE,
                                         "command": ["sh", "-c", "while :; do :; done"],
                                         "resources": {"requests": {"cpu": "20m"}, "limits": {"cpu": "100m"}}}]}}}}


def _milli_cpu(text: str) -> int:
    return int(text[:-1]) if text.endswith("m") else int(text) * 1000


def test_kubectl_top_shows_a_busy_pod_and_an_hpa_scales_its_deployment_up() -> None:
    base = Path(tempfile.mkdtemp(prefix="klt-"))
    data_dir = base / "d"
    data_dir.mkdir()
    node = f"top-{uuid.uuid4().hex[:8]}"
    kubeconfig = base / "kubeconfig.yaml"
    server_log, agent_log = base / "server.log", data_dir / "agent" / "agent.log"
    logs = [server_log, agent_log]
    with server_log.open("ab") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "kubelite", "server", "--data-dir", str(data_dir), "--bind-address", "127.0.0.1",
             "--secure-port", str(free_port()), "--write-kubeconfig", str(kubeconfig), "--node-name", node,
             "--node-ip", "127.0.0.1", "--kubelet-port", str(free_port()), "--flannel-backend", "none",
             "--disable-kube-proxy", "--metric-resolution", "2s", "--horizontal-pod-autoscaler-sync-period", "2s"],
            stdout=out, stderr=subprocess.STDOUT)
    pod_uids: set[str] = set()

    def pods() -> list[dict[str, Any]]:
        done = _kubectl(kubeconfig, "get", "pods", "-l", "app=burn", "-o", "json")
        items = json.loads(done.stdout)["items"] if done.returncode == 0 else []
        pod_uids.update(p["metadata"]["uid"] for p in items)
        return list(items)

    try:
        _wait("the embedded agent's node", lambda: kubeconfig.exists()
              and _kubectl(kubeconfig, "get", "node", node).returncode == 0, logs, timeout=180)
        packed = subprocess.run([sys.executable, "-m", "kubelite", "images", "pack",
                                 str(busybox_rootfs(base / "rootfs")), "--tag", IMAGE, "--data-dir", str(data_dir)],
                                capture_output=True, text=True, timeout=120, check=False)
        assert packed.returncode == 0, packed.stderr
        created = _kubectl(kubeconfig, "apply", "-f", "-", input=json.dumps(_deployment()))
        assert created.returncode == 0, created.stderr
        _wait("the burning pod to run", lambda: any(p.get("status", {}).get("phase") == "Running" for p in pods()),
              logs)

        def top_pod() -> str | None:
            done = _kubectl(kubeconfig, "top", "pod", "-l", "app=burn", "--no-headers")
            rows = [line.split() for line in done.stdout.splitlines()]
            return done.stdout if done.returncode == 0 and rows and _milli_cpu(rows[0][1]) > 0 else None

        _wait("kubectl top pod to show the pod's CPU", top_pod, logs)
        containers = _kubectl(kubeconfig, "top", "pod", "-A", "--containers", "--no-headers")
        assert containers.returncode == 0, containers.stderr
        # NAMESPACE POD NAME CPU(cores) MEMORY(bytes)
        assert any(r.split()[0] == "default" and r.split()[1].startswith("burn-") and r.split()[2] == "burn"
                   for r in containers.stdout.splitlines()), containers.stdout

        def top_node() -> str | None:
            done = _kubectl(kubeconfig, "top", "node")
            return done.stdout if done.returncode == 0 and node in done.stdout else None

        nodes = _wait("kubectl top node to list the node", top_node, logs)
        header, row = nodes.splitlines()[0].split(), next(r.split() for r in nodes.splitlines() if node in r)
        assert header[:3] == ["NAME", "CPU(cores)", "CPU(%)"] and row[0] == node and row[1].endswith("m")

        scaled = _kubectl(kubeconfig, "autoscale", "deployment", "burn", "--cpu-percent=50", "--min=1", "--max=2")
        assert scaled.returncode == 0, scaled.stderr

        def deployment_replicas() -> int:
            done = _kubectl(kubeconfig, "get", "deployment", "burn", "-o", "jsonpath={.spec.replicas}")
            return int(done.stdout or 0) if done.returncode == 0 else 0

        _wait("the HPA to scale the Deployment to 2", lambda: deployment_replicas() == 2, logs)
        hpa = json.loads(_kubectl(kubeconfig, "get", "hpa", "burn", "-o", "json").stdout)
        assert hpa["status"]["desiredReplicas"] == 2 and hpa["status"].get("lastScaleTime")
        conditions = {c["type"]: c for c in hpa["status"]["conditions"]}
        assert conditions["ScalingActive"]["status"] == "True"
        assert conditions["ScalingActive"]["reason"] == "ValidMetricFound"
        (current,) = hpa["status"]["currentMetrics"]
        assert current["resource"]["name"] == "cpu" and current["resource"]["current"]["averageUtilization"] > 50
        listed = _kubectl(kubeconfig, "get", "hpa")
        assert listed.stdout.split("\n")[0].split() == ["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS",
                                                        "REPLICAS", "AGE"], listed.stdout
        assert "Deployment/burn" in listed.stdout and "/50%" in listed.stdout
        events = _kubectl(kubeconfig, "get", "events", "--field-selector", "reason=SuccessfulRescale", "-o", "json")
        messages = [e["message"] for e in json.loads(events.stdout)["items"]]
        assert "New size: 2; reason: cpu resource utilization (percentage of request) above target" in messages
        # the autoscaling/v1 view (what kubectl autoscale wrote) patches and reads back through the v2 object
        patched = _kubectl(kubeconfig, "patch", "horizontalpodautoscalers.v1.autoscaling", "burn", "-p",
                           '{"spec":{"targetCPUUtilizationPercentage":60}}')
        assert patched.returncode == 0, patched.stderr
        v2_metrics = json.loads(_kubectl(kubeconfig, "get", "hpa", "burn", "-o", "json").stdout)["spec"]["metrics"]
        assert v2_metrics == [{"type": "Resource", "resource": {"name": "cpu", "target": {
            "type": "Utilization", "averageUtilization": 60}}}]
        v1 = json.loads(_kubectl(kubeconfig, "get", "horizontalpodautoscalers.v1.autoscaling", "burn", "-o",
                                 "json").stdout)
        assert v1["apiVersion"] == "autoscaling/v1" and v1["spec"]["targetCPUUtilizationPercentage"] == 60
        assert v1["status"]["currentCPUUtilizationPercentage"] > 50
        watched = _kubectl(kubeconfig, "get", "--raw", "/apis/autoscaling/v1/namespaces/default/"
                           "horizontalpodautoscalers?watch=true&timeoutSeconds=1")
        event, *later = [json.loads(line) for line in watched.stdout.splitlines()]  # later: status updates
        assert event["type"] == "ADDED" and event["object"]["spec"]["targetCPUUtilizationPercentage"] == 60
        assert {e["object"]["apiVersion"] for e in [event, *later]} == {"autoscaling/v1"}

        # an HPA whose target does not exist says so in its status and does nothing else
        ghost = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                 "metadata": {"name": "ghost", "namespace": "default"},
                 "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "ghost"},
                          "minReplicas": 1, "maxReplicas": 3}}
        assert _kubectl(kubeconfig, "apply", "-f", "-", input=json.dumps(ghost)).returncode == 0

        def ghost_condition() -> dict[str, Any] | None:
            done = _kubectl(kubeconfig, "get", "hpa", "ghost", "-o", "json")
            status = json.loads(done.stdout).get("status", {}) if done.returncode == 0 else {}
            return next((c for c in status.get("conditions") or [] if c["type"] == "AbleToScale"), None)

        condition = _wait("the missing target's condition", ghost_condition, logs)
        assert (condition["status"], condition["reason"]) == ("False", "FailedGetScale")
        assert 'deployments.apps "ghost" not found' in condition["message"]
        _kubectl(kubeconfig, "delete", "hpa", "burn", "ghost")
        _kubectl(kubeconfig, "delete", "deployment", "burn", "--wait=false")
        pods()
    finally:
        server.terminate()
        try:
            server.wait(timeout=40)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        socket_path = ContainerdPaths.for_data_dir(data_dir).socket
        # the agent used the shared default cgroup root (/kubepods): release only our pods' cgroups
        for uid in pod_uids or {uuid.uuid4().hex}:
            _release_host_state(base, socket_path, f"/kubepods/burstable/pod{uid}")
        shutil.rmtree(base, ignore_errors=True)
        for hierarchy in Path("/sys/fs/cgroup").iterdir():
            for parent in ("kubepods/burstable", "kubepods"):
                with contextlib.suppress(OSError):
                    (hierarchy / parent).rmdir()
