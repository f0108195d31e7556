"""kubectl logs/exec/port-forward through a real ``kubelite agent``: its kubelet server, its own pods.

The agent and server come from tests/integration/test_kubelet_pods.py's Node (same private data dir,
cgroup root and clean-up), with the kubelet server enabled on a free loopback-advertised port; the pod
is created by stock kubectl and run by the agent's pod workers, so the CRI labels and log paths the
kubelet server relies on are the kubelet core's own.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from test_kubelet_pods import BUSYBOX, Node, _phase, _remove_cgroups

sys.path.insert(0, str(Path(__file__).resolve().parent / "cri"))
from cri_harness import _release_host_state
from e2e_harness import free_port, start_server, stop_server

from kubelite.cri import ContainerdPaths
from kubelite.cri.images import busybox_rootfs, pack_rootfs

pytestmark = [pytest.mark.root, pytest.mark.integration]


@dataclass
class ServingNode(Node):
    kubelet_port: int = 0

    def start_agent(self) -> None:
        with self.agent_log.open("ab") as out:
            self.agent = subprocess.Popen(
                [sys.executable, "-m", "kubelite", "agent", "--data-dir", str(self.data_dir), "--server",
                 f"https://127.0.0.1:{self.server.port}", "--kubeconfig", str(self.server.kubeconfig),
                 "--node-name", self.name, "--node-ip", "127.0.0.1", "--cgroup-root", self.cgroup_root,
                 "--kubelet-port", str(self.kubelet_port), "--disable", "pod-network", "--disable", "proxy"],
                stdout=out, stderr=subprocess.STDOUT)


@pytest.fixture(scope="module")
def serving_node() -> Iterator[ServingNode]:
    base = Path(tempfile.mkdtemp(prefix="klks-"))
    data_dir = base / "d"
    cgroup_root = f"/kubelite-test-{uuid.uuid4().hex[:12]}"
    (base / "s").mkdir()
    try:
        server = start_server(base / "s")
    except BaseException:
        shutil.rmtree(base, ignore_errors=True)
        raise
    node = ServingNode(base=base, data_dir=data_dir, server=server, name=f"kls-{uuid.uuid4().hex[:8]}",
                       cgroup_root=cgroup_root, kubelet_port=free_port())
    try:
        images = data_dir / "agent" / "images"
        images.mkdir(parents=True)
        pack_rootfs(busybox_rootfs(base / "busybox"), tag=BUSYBOX, cmd=["sh"], output=images / "busybox.tar")
        node.start_agent()
        node.wait_for("the node to register", lambda: node.get("node", node.name), timeout=90)
        yield node
    finally:
        try:
            node.stop_agent()
        finally:
            stop_server(server)
            _release_host_state(base, ContainerdPaths.for_data_dir(data_dir).socket, cgroup_root)
            _remove_cgroups(cgroup_root)


def test_kubectl_logs_exec_and_port_forward_reach_the_agents_pod(serving_node: ServingNode) -> None:
    node = serving_node
    http_port = free_port()
    node.pod("served", [{"name": "web", "command": ["sh", "-c", (
        "echo hello-from-agent; mkdir -p /tmp/www; echo served-page > /tmp/www/index.html;"
        f" exec httpd -f -p 127.0.0.1:{http_port} -h /tmp/www")]}])
    node.wait_pod("served", lambda p: _phase(p) == "Running", "Running")
    node.wait_for("the first log line",
                  lambda: node.kubectl("logs", "served", check=False).stdout == "hello-from-agent\n")
    done = node.kubectl("exec", "served", "--", "sh", "-c", "cat; exit 4", input="via-stdin\n", check=False)
    assert (done.returncode, done.stdout) == (4, "")  # without -i stdin is not attached
    done = node.kubectl("exec", "-i", "served", "--", "sh", "-c", "cat; exit 4", input="via-stdin\n", check=False)
    assert (done.returncode, done.stdout) == (4, "via-stdin\n"), done.stderr
    local = free_port()
    forward = subprocess.Popen(["kubectl", "port-forward", "pod/served", f"{local}:{http_port}",
                                "--address=127.0.0.1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=dict(os.environ, KUBECONFIG=str(node.server.kubeconfig),
                                        HOME=str(node.server.data_dir)))
    try:
        assert forward.stdout is not None
        assert b"Forwarding from" in forward.stdout.readline()
        deadline = time.monotonic() + 20
        while True:
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{local}/index.html", timeout=5).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        assert body == b"served-page\n"
    finally:
        forward.kill()
        forward.wait()


def test_summary_and_resource_metrics_through_the_api_servers_node_proxy(serving_node: ServingNode) -> None:
    node = serving_node
    # a spinning shell, capped at a fifth of a core (this machine is shared)
    node.pod("measured", [{"name": "busy", "command": ["sh", "-c", "while :; do :; done"],
                           "resources": {"limits": {"cpu": "200m", "memory": "64Mi"}}}])
    pod = node.wait_pod("measured", lambda p: _phase(p) == "Running", "Running")
    base = f"/api/v1/nodes/{node.name}/proxy"

    def busy_in_summary() -> dict[str, Any] | None:
        summary = json.loads(node.kubectl("get", "--raw", f"{base}/stats/summary").stdout)
        found = [p for p in summary["pods"] if p["podRef"]["uid"] == pod["metadata"]["uid"]]
        # usageNanoCores needs two samples: the kubelet keeps the previous one
        return found[0] if found and "usageNanoCores" in found[0]["containers"][0]["cpu"] else None

    measured = node.wait_for("the pod's CPU rate in the Summary", busy_in_summary, timeout=30)
    (busy,) = measured["containers"]
    assert busy["name"] == "busy" and 10_000_000 < busy["cpu"]["usageNanoCores"] < 400_000_000
    assert measured["memory"]["workingSetBytes"] > 0 and measured["podRef"]["name"] == "measured"
    metrics = node.kubectl("get", "--raw", f"{base}/metrics/resource").stdout
    assert 'container_cpu_usage_seconds_total{container="busy",namespace="default",pod="measured"}' in metrics
    assert "node_memory_working_set_bytes" in metrics and "resource_scrape_error 0" in metrics
    node.kubectl("delete", "pod", "measured", "--wait=false")
