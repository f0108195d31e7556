"""A ServiceAccount token from inside a pod: the ServiceAccount admission adds the kube-api-access
volume, the kubelet fills it through TokenRequest (bound to the pod), the token authenticates as the
pod's account, and stops working once the account is deleted. On the way: the embedded agent talks to
the API only as ``system:node:<name>`` (every one of its requests in the audit log), and its kubelet API
refuses a caller without a client certificate.

A real `kubelite server` with its embedded agent on real containerd (hostNetwork pod, no pod network or
service proxy), started and cleaned up as tests/integration/test_kubelet_embedded_agent.py does.
"""

from __future__ import annotations

import base64
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
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
sys.path.insert(0, str(Path(__file__).resolve().parent / "cri"))
from cri_harness import _release_host_state
from e2e_harness import free_port

from kubelite.cri import ContainerdPaths
from kubelite.cri.images import busybox_rootfs

pytestmark = [pytest.mark.root, pytest.mark.integration]

IMAGE = "kubelite.local/packed:podtoken"
MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"


def kubectl(kubeconfig: Path, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["kubectl", *args], input=input, capture_output=True, text=True, timeout=60, check=False,
                          env=dict(os.environ, KUBECONFIG=str(kubeconfig), HOME=str(kubeconfig.parent)))


def wait(what: str, probe: Any, log: Path, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = probe()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}\n{log.read_text()[-3000:] if log.exists() else ''}")


def test_service_account_token_from_a_pod() -> None:
    base = Path(tempfile.mkdtemp(prefix="klt-"))
    data_dir = base / "d"
    data_dir.mkdir()
    node = f"tok-{uuid.uuid4().hex[:8]}"
    kubeconfig = base / "kubeconfig.yaml"
    agent_log = data_dir / "agent" / "agent.log"
    port = free_port()
    kubelet_port = free_port()
    audit = base / "audit.log"
    with (base / "server.log").open("ab") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "kubelite", "server", "--data-dir", str(data_dir), "--bind-address", "127.0.0.1",
             "--secure-port", str(port), "--write-kubeconfig", str(kubeconfig), "--node-name", node,
             "--node-ip", "127.0.0.1", "--kubelet-port", str(kubelet_port), "--flannel-backend", "none",
             "--disable-kube-proxy", "--audit-log-path", str(audit)], stdout=out, stderr=subprocess.STDOUT)
    pod_uid = ""
    try:
        wait("the embedded agent's node", lambda: kubeconfig.exists() and
             kubectl(kubeconfig, "get", "node", node).returncode == 0, agent_log)
        packed = subprocess.run([sys.executable, "-m", "kubelite", "images", "pack",
                                 str(busybox_rootfs(base / "rootfs")), "--tag", IMAGE, "--data-dir", str(data_dir)],
                                capture_output=True, text=True, timeout=120, check=False)
        assert packed.returncode == 0, packed.stderr
        assert kubectl(kubeconfig, "create", "serviceaccount", "reader").returncode == 0
        assert kubectl(kubeconfig, "create", "rolebinding", "reader-view", "--clusterrole=view",
                       "--serviceaccount=default:reader").returncode == 0
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "tok", "namespace": "default"},
               "spec": {"nodeName": node, "hostNetwork": True, "terminationGracePeriodSeconds": 1,
                        "serviceAccountName": "reader",
                        "containers": [{"name": "c", "image": IMAGE, "command": ["sleep", "3600"]}]}}
        assert kubectl(kubeconfig, "apply", "-f", "-", input=json.dumps(pod)).returncode == 0

        def running() -> bool:
            done = kubectl(kubeconfig, "get", "pod", "tok", "-o", "json")
            return done.returncode == 0 and json.loads(done.stdout).get("status", {}).get("phase") == "Running"

        wait("the pod to run", running, agent_log)
        pod_uid = json.loads(kubectl(kubeconfig, "get", "pod", "tok", "-o", "json").stdout)["metadata"]["uid"]
        token = kubectl(kubeconfig, "exec", "tok", "--", "cat", f"{MOUNT}/token").stdout.strip()
        namespace = kubectl(kubeconfig, "exec", "tok", "--", "cat", f"{MOUNT}/namespace").stdout.strip()
        ca = kubectl(kubeconfig, "exec", "tok", "--", "cat", f"{MOUNT}/ca.crt").stdout
        assert token.count(".") == 2 and namespace == "default" and ca.startswith("-----BEGIN CERTIFICATE-----")
        claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
        assert claims["kubernetes.io"]["pod"]["uid"] == pod_uid

        (base / "ca.crt").write_text(ca)
        cluster = yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"]

        def as_pod(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(["kubectl", f"--server={cluster}", f"--certificate-authority={base / 'ca.crt'}",
                                   f"--token={token}", *args], capture_output=True, text=True, timeout=60,
                                  check=False, env=dict(os.environ, KUBECONFIG="/dev/null", HOME=str(base)))

        who = json.loads(as_pod("auth", "whoami", "-o", "json").stdout)["status"]["userInfo"]
        assert who["username"] == "system:serviceaccount:default:reader"
        assert who["extra"]["authentication.kubernetes.io/pod-name"] == ["tok"]
        assert as_pod("get", "pods").returncode == 0
        assert "forbidden" in as_pod("get", "secrets").stderr
        assert kubectl(kubeconfig, "delete", "serviceaccount", "reader").returncode == 0
        wait("the token to be refused", lambda: "Unauthorized" in as_pod("get", "pods").stderr, agent_log, 15)

        # the embedded agent is a node, never the admin: each of its requests authenticated as system:node:<name>
        agent_users = {e["user"]["username"] for e in map(json.loads, audit.read_text().splitlines())
                       if e.get("userAgent", "").startswith("kubelite-agent/")}
        assert agent_users == {f"system:node:{node}"}, agent_users
        # and its kubelet API wants a client certificate from the cluster's client CA
        anonymous = subprocess.run(["curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}",
                                    f"https://127.0.0.1:{kubelet_port}/pods"], capture_output=True, text=True,
                                   timeout=30, check=False)
        assert anonymous.stdout in ("401", "000"), anonymous.stdout
    finally:
        server.terminate()
        try:
            server.wait(timeout=40)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        _release_host_state(base, ContainerdPaths.for_data_dir(data_dir).socket,
                            f"/kubepods/besteffort/pod{pod_uid}" if pod_uid else f"/kubepods/{uuid.uuid4()}")
        shutil.rmtree(base, ignore_errors=True)
        for hierarchy in Path("/sys/fs/cgroup").iterdir():
            for parent in ("kubepods/besteffort", "kubepods"):
                with contextlib.suppress(OSError):
                    (hierarchy / parent).rmdir()
