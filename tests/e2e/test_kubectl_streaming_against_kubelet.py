"""Stock kubectl logs/exec/attach/cp/port-forward end to end: kubectl -> kubelite server -> kubelet -> containerd.

One module-wide setup: a real containerd of the test's own (tests/integration/cri/cri_harness.py) running
a host-network busybox pod created directly through kubelite.cri with the kubelet's CRI labels, the
kubelet server (agent/kubelet/server.py) on a loopback port in this process, and a real
``kubelite server --disable-agent`` holding a Node (127.0.0.1, our kubelet port) and the matching Pod.
kubectl runs in a thread: the kubelet server answers on this test's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from e2e_harness import Server, free_port, raw_request

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "cri"))
from cri_harness import BUSYBOX_IMAGE, CriNode, running_node

from kubelite.agent.config import AgentConfig
from kubelite.agent.kubelet.server import start_kubelet_server
from kubelite.cri import api_pb2

pytestmark = [pytest.mark.root, pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

POD = "streamer"
NAMESPACE = "default"


@dataclass
class Cluster:
    server: Server
    node: CriNode
    node_name: str
    http_port: int
    pod_uid: str

    async def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                      timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(self.server.kubectl, *args, input=input, check=check, timeout=timeout)


def _labels(uid: str, container: str = "") -> dict[str, str]:
    labels = {"io.kubernetes.pod.name": POD, "io.kubernetes.pod.namespace": NAMESPACE, "io.kubernetes.pod.uid": uid}
    if container:
        labels["io.kubernetes.container.name"] = container
    return labels


async def _start_pod(node: CriNode, uid: str, http_port: int) -> None:
    log_dir = node.base / "pod-logs" / f"{NAMESPACE}_{POD}_{uid}"
    host_network = api_pb2.NamespaceOption(network=api_pb2.NODE, pid=api_pb2.CONTAINER, ipc=api_pb2.POD)
    sandbox_config = api_pb2.PodSandboxConfig(
        metadata=api_pb2.PodSandboxMetadata(name=POD, uid=uid, namespace=NAMESPACE, attempt=0),
        log_directory=str(log_dir), labels=_labels(uid),
        linux=api_pb2.LinuxPodSandboxConfig(
            cgroup_parent=f"{node.cgroup_parent}/pod{uid}",
            security_context=api_pb2.LinuxSandboxSecurityContext(namespace_options=host_network)))
    sandbox_id = (await node.client.run_pod_sandbox(config=sandbox_config)).pod_sandbox_id

    async def run(name: str, script: str, attempt: int = 0, *, stdin: bool = False) -> str:
        config = api_pb2.ContainerConfig(
            metadata=api_pb2.ContainerMetadata(name=name, attempt=attempt),
            image=api_pb2.ImageSpec(image=BUSYBOX_IMAGE), command=["sh", "-c", script],
            log_path=f"{name}/{attempt}.log", labels=_labels(uid, name), stdin=stdin,
            linux=api_pb2.LinuxContainerConfig(security_context=api_pb2.LinuxContainerSecurityContext(
                namespace_options=host_network)))
        created = await node.client.create_container(pod_sandbox_id=sandbox_id, config=config,
                                                     sandbox_config=sandbox_config)
        await node.client.start_container(container_id=created.container_id)
        return created.container_id

    await run("main", "echo line1; echo err1 >&2; sleep 0.2; echo line2; mkdir -p /tmp/www;"
                      " echo hello-pf > /tmp/www/index.html;"
                      f" exec httpd -f -p 127.0.0.1:{http_port} -h /tmp/www")
    await run("ticker", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done")
    first = await run("crash", "echo first-run; exit 1")
    for _ in range(100):
        if (await node.client.container_status(container_id=first)).status.state == api_pb2.CONTAINER_EXITED:
            break
        await asyncio.sleep(0.05)
    await run("crash", "echo second-run; exec sleep 1000", attempt=1)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def cluster(server: Server) -> AsyncIterator[Cluster]:
    node_name = f"kl-{uuid.uuid4().hex[:8]}"
    kubelet_port, http_port = free_port(), free_port()
    uid = str(uuid.uuid4())
    async with running_node() as node:
        config = AgentConfig(data_dir=node.base / "agent-data", server=f"https://127.0.0.1:{server.port}",
                             node_name=node_name, node_ip="127.0.0.1", kubelet_port=kubelet_port)
        runner = await start_kubelet_server(config=config, runtime=node.client, client=None, host="127.0.0.1")
        try:
            await _start_pod(node, uid, http_port)
            cluster = Cluster(server, node, node_name, http_port, uid)
            await cluster.kubectl("create", "-f", "-", input=f"""
apiVersion: v1
kind: Node
metadata: {{name: {node_name}}}
""")
            await cluster.kubectl(
                "patch", "node", node_name, "--subresource=status", "--type=merge", "-p",
                '{"status": {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"}], '
                f'"daemonEndpoints": {{"kubeletEndpoint": {{"Port": {kubelet_port}}}}}}}}}')
            containers = "".join(f"\n  - {{name: {c}, image: {BUSYBOX_IMAGE}}}" for c in ("main", "ticker", "crash"))
            await cluster.kubectl("create", "-f", "-", input=f"""
apiVersion: v1
kind: Pod
metadata: {{name: {POD}, namespace: {NAMESPACE}}}
spec:
  nodeName: {node_name}
  containers:{containers}
""")
            await cluster.kubectl("patch", "pod", POD, "--subresource=status", "--type=merge",
                                  "-p", '{"status": {"phase": "Running"}}')
            yield cluster
        finally:
            await runner.cleanup()


async def test_kubectl_logs_reads_the_cri_log_with_options(cluster: Cluster) -> None:
    logs = (await cluster.kubectl("logs", POD, "-c", "main")).stdout
    lines = logs.splitlines()
    # stdout and stderr are separate pipes: their relative order is the runtime's; line2 comes later
    assert sorted(lines[:2]) == ["err1", "line1"] and lines[2] == "line2"
    assert (await cluster.kubectl("logs", POD, "-c", "main", "--tail=1")).stdout == "line2\n"
    stamped = (await cluster.kubectl("logs", POD, "-c", "main", "--timestamps")).stdout.splitlines()
    assert all(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z (line1|err1|line2)$", s) for s in stamped)
    assert (await cluster.kubectl("logs", POD, "-c", "main", "--since=1h")).stdout == logs
    assert (await cluster.kubectl("logs", POD, "-c", "main", "--limit-bytes=3")).stdout == logs[:3]
    assert (await cluster.kubectl("logs", POD, "-c", "crash", "--previous")).stdout == "first-run\n"
    assert (await cluster.kubectl("logs", POD, "-c", "crash")).stdout == "second-run\n"
    # following a container that has stopped ends at the end of its log, as upstream
    assert (await cluster.kubectl("logs", "-f", POD, "-c", "crash", "--previous", timeout=20)).stdout == "first-run\n"


async def test_kubectl_logs_follow_streams_new_lines(cluster: Cluster) -> None:
    env = dict(os.environ, KUBECONFIG=str(cluster.server.kubeconfig), HOME=str(cluster.server.data_dir))
    process = await asyncio.create_subprocess_exec("kubectl", "logs", "-f", "--tail=1", POD, "-c", "ticker",
                                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        assert process.stdout is not None
        numbers = []
        for _ in range(4):
            line = await asyncio.wait_for(process.stdout.readline(), 20)
            numbers.append(int(line.decode().split()[1]))
        assert numbers == sorted(numbers) and numbers[-1] - numbers[0] == 3  # consecutive, as written
    finally:
        process.kill()
        await process.wait()


async def test_kubectl_logs_errors_are_upstream_status(cluster: Cluster) -> None:
    done = await cluster.kubectl("logs", POD, "-c", "nope", check=False)
    assert done.returncode != 0
    assert f"container nope is not valid for pod {POD}" in done.stderr
    done = await cluster.kubectl("logs", "no-such-pod", check=False)
    assert 'pods "no-such-pod" not found' in done.stderr
    # kubectl picks a default container itself; the API server's own rule shows on a raw request
    log_path = f"/api/v1/namespaces/{NAMESPACE}/pods/{POD}/log"
    code, status = await asyncio.to_thread(raw_request, cluster.server, "GET", log_path)
    assert (code, status["message"]) == (
        400, f"a container name must be specified for pod {POD}, choose one of: [main ticker crash]")
    code, status = await asyncio.to_thread(
        raw_request, cluster.server, "GET", f"{log_path}?container=main&tailLines=-1")
    assert (code, status["reason"]) == (422, "Invalid")
    assert "tailLines: Invalid value: -1: must be greater than or equal to 0" in str(status["message"])


async def test_kubectl_exec_propagates_output_and_exit_code(cluster: Cluster) -> None:
    done = await cluster.kubectl("exec", POD, "-c", "main", "--", "sh", "-c", "echo out; echo err >&2; exit 3",
                                 check=False)
    assert (done.returncode, done.stdout) == (3, "out\n")
    assert "err" in done.stderr
    assert (await cluster.kubectl("exec", POD, "-c", "main", "--", "echo", "ok")).stdout == "ok\n"


async def test_kubectl_exec_with_stdin_sees_end_of_input(cluster: Cluster) -> None:
    done = await cluster.kubectl("exec", "-i", POD, "-c", "main", "--", "sh", "-c", "cat; echo done",
                                 input="hello\nworld\n", timeout=30)
    assert done.stdout == "hello\nworld\ndone\n"


async def test_kubectl_cp_copies_in_and_out(cluster: Cluster, tmp_path: Path) -> None:
    source = tmp_path / "payload.bin"
    source.write_bytes(os.urandom(200_000))
    await cluster.kubectl("cp", str(source), f"{NAMESPACE}/{POD}:/tmp/payload.bin", "-c", "main")
    back = tmp_path / "back.bin"
    await cluster.kubectl("cp", f"{NAMESPACE}/{POD}:/tmp/payload.bin", str(back), "-c", "main")
    assert back.read_bytes() == source.read_bytes()


async def test_kubectl_port_forward_reaches_the_pod(cluster: Cluster) -> None:
    local = free_port()
    env = dict(os.environ, KUBECONFIG=str(cluster.server.kubeconfig), HOME=str(cluster.server.data_dir))
    process = await asyncio.create_subprocess_exec(
        "kubectl", "port-forward", f"pod/{POD}", f"{local}:{cluster.http_port}", "--address=127.0.0.1",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 20)
        assert b"Forwarding from 127.0.0.1" in line
        for _ in range(2):  # two connections over the one session
            body = await asyncio.to_thread(
                lambda: urllib.request.urlopen(f"http://127.0.0.1:{local}/index.html", timeout=10).read())
            assert body == b"hello-pf\n"
    finally:
        process.kill()
        await process.wait()


async def test_kubectl_attach_streams_the_running_process(cluster: Cluster) -> None:
    env = dict(os.environ, KUBECONFIG=str(cluster.server.kubeconfig), HOME=str(cluster.server.data_dir))
    process = await asyncio.create_subprocess_exec("kubectl", "attach", POD, "-c", "ticker",
                                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = await asyncio.wait_for(process.stdout.readline(), 20)
            if line.startswith(b"tick "):
                break
        else:
            raise AssertionError("kubectl attach printed no output of the running process")
    finally:
        process.kill()
        await process.wait()


async def test_python_client_exec_over_websocket_v4(cluster: Cluster) -> None:
    from kubernetes import client as k8s
    from kubernetes import config as k8s_config
    from kubernetes.stream import stream

    def run() -> str:
        api = k8s.CoreV1Api(k8s_config.new_client_from_config(str(cluster.server.kubeconfig)))
        return str(stream(api.connect_get_namespaced_pod_exec, POD, NAMESPACE, container="main",
                          command=["sh", "-c", "echo via-python"], stderr=True, stdin=False, stdout=True,
                          tty=False))

    assert (await asyncio.to_thread(run)).strip() == "via-python"


async def test_streaming_errors_are_upstream_status(cluster: Cluster) -> None:
    await cluster.kubectl("create", "-f", "-", input=f"""
apiVersion: v1
kind: Pod
metadata: {{name: unscheduled, namespace: {NAMESPACE}}}
spec:
  containers: [{{name: c, image: {BUSYBOX_IMAGE}}}]
""")
    done = await cluster.kubectl("exec", "unscheduled", "--", "true", check=False)
    assert "pod unscheduled does not have a host assigned" in done.stderr
    with contextlib.suppress(Exception):
        await cluster.kubectl("delete", "pod", "unscheduled", "--wait=false")
    done = await cluster.kubectl("exec", POD, "-c", "nope", "--", "true", check=False)
    assert f"container nope is not valid for pod {POD}" in done.stderr
    # a node whose kubelet does not answer
    dead_port = free_port()
    await cluster.kubectl("create", "-f", "-", input="apiVersion: v1\nkind: Node\nmetadata: {name: dead-node}\n")
    await cluster.kubectl("patch", "node", "dead-node", "--subresource=status", "--type=merge", "-p",
                          '{"status": {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"}], '
                          f'"daemonEndpoints": {{"kubeletEndpoint": {{"Port": {dead_port}}}}}}}}}')
    await cluster.kubectl("create", "-f", "-", input=f"""
apiVersion: v1
kind: Pod
metadata: {{name: on-dead-node, namespace: {NAMESPACE}}}
spec:
  nodeName: dead-node
  containers: [{{name: c, image: {BUSYBOX_IMAGE}}}]
""")
    done = await cluster.kubectl("logs", "on-dead-node", check=False)
    assert done.returncode != 0 and "Error from server: error dialing backend: " in done.stderr, done.stderr


def _exec_with_tty(kubeconfig: Path, home: Path, script: bytes) -> tuple[int, bytes]:
    """kubectl exec -it on a real pseudo-terminal of 40 rows x 100 columns; returns (exit code, output)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))
    env = dict(os.environ, KUBECONFIG=str(kubeconfig), HOME=str(home))
    process = subprocess.Popen(["kubectl", "exec", "-it", POD, "-c", "main", "--", "sh"], stdin=slave,
                               stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    output = b""
    try:
        # type once the shell has prompted, as a user would: kubectl sends the terminal size on the resize
        # channel as the stream starts, and a command typed ahead may run before that size reached the tty
        started = time.monotonic()
        sent = False
        deadline = started + 30
        while time.monotonic() < deadline:
            if not sent and (b"# " in output or time.monotonic() - started > 10):
                os.write(master, script)
                sent = True
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO: kubectl exited and closed the terminal
                    break
                if not chunk:
                    break
                output += chunk
            elif process.poll() is not None:
                break
        return process.wait(timeout=10), output
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)


async def test_kubectl_exec_with_a_terminal_sizes_it_and_returns_the_exit_code(cluster: Cluster) -> None:
    code, output = await asyncio.to_thread(_exec_with_tty, cluster.server.kubeconfig, cluster.server.data_dir,
                                           b"stty size; echo $((6*7)); exit 5\n")
    assert code == 5, output
    assert b"40 100" in output  # the resize channel carried the terminal's size
    assert b"42" in output


async def test_node_proxy_reaches_the_kubelet(cluster: Cluster) -> None:
    base = f"/api/v1/nodes/{cluster.node_name}/proxy"
    assert (await cluster.kubectl("get", "--raw", f"{base}/healthz")).stdout == "ok"
    summary = json.loads((await cluster.kubectl("get", "--raw", f"{base}/stats/summary")).stdout)
    assert summary["node"]["nodeName"] == cluster.node_name
    (pod,) = [p for p in summary["pods"] if p["podRef"]["uid"] == cluster.pod_uid]
    assert {c["name"] for c in pod["containers"]} == {"main", "ticker", "crash"}
    metrics = (await cluster.kubectl("get", "--raw", f"{base}/metrics")).stdout
    assert 'kubelet_running_containers{container_state="running"}' in metrics
    done = await cluster.kubectl("get", "--raw", "/api/v1/nodes/no-such-node/proxy/healthz", check=False)
    assert 'nodes "no-such-node" not found' in done.stderr


async def test_python_client_port_forward_over_websocket(cluster: Cluster) -> None:
    from kubernetes import client as k8s
    from kubernetes import config as k8s_config
    from kubernetes.stream import portforward

    def fetch() -> bytes:
        api = k8s.CoreV1Api(k8s_config.new_client_from_config(str(cluster.server.kubeconfig)))
        forward = portforward(api.connect_get_namespaced_pod_portforward, POD, NAMESPACE,
                              ports=str(cluster.http_port))
        try:
            sock = forward.socket(cluster.http_port)
            sock.settimeout(10)
            sock.sendall(b"GET /index.html HTTP/1.0\r\n\r\n")
            data = b""
            while chunk := sock.recv(4096):
                data += chunk
            return data
        finally:
            forward.close()

    response = await asyncio.to_thread(fetch)
    assert response.startswith(b"HTTP/1.") and response.endswith(b"hello-pf\n")


async def test_kubectl_over_spdy_passes_through_to_the_runtime(cluster: Cluster) -> None:
    """kubectl's SPDY transport (its fallback; forced by its feature-gate environment variables)."""
    env = dict(os.environ, KUBECONFIG=str(cluster.server.kubeconfig), HOME=str(cluster.server.data_dir),
               KUBECTL_REMOTE_COMMAND_WEBSOCKETS="false", KUBECTL_PORT_FORWARD_WEBSOCKETS="false")
    done = await asyncio.to_thread(
        subprocess.run, ["kubectl", "-v=6", "exec", "-i", POD, "-c", "main", "--", "sh", "-c", "cat; exit 7"],
        input="over-spdy\n", capture_output=True, text=True, env=env, timeout=60)
    assert (done.returncode, done.stdout) == (7, "over-spdy\n"), done.stderr[-2000:]
    assert re.search(r"POST https://\S+/exec\?\S+ 101 Switching Protocols", done.stderr)  # SPDY: POST, not GET
    local = free_port()
    process = await asyncio.create_subprocess_exec(
        "kubectl", "port-forward", f"pod/{POD}", f"{local}:{cluster.http_port}", "--address=127.0.0.1",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        assert process.stdout is not None
        assert b"Forwarding from" in await asyncio.wait_for(process.stdout.readline(), 20)
        body = await asyncio.to_thread(
            lambda: urllib.request.urlopen(f"http://127.0.0.1:{local}/index.html", timeout=10).read())
        assert body == b"hello-pf\n"
    finally:
        process.kill()
        await process.wait()
