"""The kubelet on real containerd: pods created with stock kubectl run, report status, crash, probe, stop.

One module-scoped node: a real ``kubelite server --disable-agent`` (tests/e2e/e2e_harness.py) and a
real ``kubelite agent`` process beside it in a private data directory under /tmp (its own
containerd, cgroup root and pod logs). The busybox image is packed from Debian's busybox-static and
dropped into the agent's images directory, which the agent imports at start (the airgap path).
Pods are hostNetwork (no CNI plugin needed) and name the node in ``spec.nodeName``. Afterwards,
even on failure, the agent is stopped by PID and everything it started is removed (shims, container
processes in our cgroup root, mounts, cgroups, the directory), as tests/integration/cri does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
sys.path.insert(0, str(Path(__file__).resolve().parent / "cri"))
from cri_harness import _release_host_state
from e2e_harness import Server, free_port, start_server, stop_server

from kubelite.agent.kubelet.pod_container_manager import PodContainerManager
from kubelite.cri import ContainerdPaths, RuntimeClient, api_pb2
from kubelite.cri.images import busybox_rootfs, pack_rootfs

pytestmark = [pytest.mark.root, pytest.mark.integration]

BUSYBOX = "kubelite.local/busybox:kubelet-test"


@dataclass
class Node:
    base: Path
    data_dir: Path
    server: Server
    name: str
    cgroup_root: str
    agent: subprocess.Popen[bytes] | None = None

    @property
    def agent_log(self) -> Path:
        return self.base / "agent.log"

    def start_agent(self) -> None:
        with self.agent_log.open("ab") as out:
            self.agent = subprocess.Popen(
                [sys.executable, "-m", "kubelite", "agent", "--data-dir", str(self.data_dir), "--server",
                 f"https://127.0.0.1:{self.server.port}", "--kubeconfig", str(self.server.kubeconfig),
                 "--node-name", self.name, "--node-ip", "127.0.0.1", "--node-label", "kubelite.test/pool=a",
                 "--node-taint", "kubelite.test/dedicated=x:PreferNoSchedule", "--cgroup-root", self.cgroup_root,
                 "--crash-loop-backoff-base", "1",
                 # hostNetwork pods only: no CNI, no service proxy, no kubelet port to clash with other tests
                 "--disable", "kubelet-server", "--disable", "pod-network", "--disable", "proxy"],
                stdout=out, stderr=subprocess.STDOUT)

    def stop_agent(self) -> int | None:
        agent, self.agent = self.agent, None
        if agent is None:
            return None
        if agent.poll() is None:
            agent.send_signal(signal.SIGTERM)
            try:
                return agent.wait(timeout=30)
            except subprocess.TimeoutExpired:
                agent.kill()
                agent.wait()
        return agent.returncode

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = self.server.kubectl(*args, input=input, check=False)
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {done.stderr}\nagent log:\n{self.log_tail()}")
        return done

    def log_tail(self) -> str:
        try:
            return self.agent_log.read_text()[-4000:]
        except OSError:
            return "(no agent log)"

    def apply(self, obj: dict[str, Any]) -> None:
        self.kubectl("apply", "-f", "-", input=json.dumps(obj))

    def get(self, kind: str, name: str, namespace: str = "default") -> dict[str, Any] | None:
        done = self.kubectl("get", kind, name, "-n", namespace, "-o", "json", check=False)
        if done.returncode != 0:
            return None
        result: dict[str, Any] = json.loads(done.stdout)
        return result

    def wait_for(self, what: str, probe: Callable[[], Any], timeout: float = 60) -> Any:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            last = probe()
            if last:
                return last
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}; last: {last!r}\nagent log:\n{self.log_tail()}")

    def wait_pod(self, name: str, check: Callable[[dict[str, Any]], bool], what: str,
                 timeout: float = 60) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            pod = self.get("pod", name)
            return pod if pod is not None and check(pod) else None

        result: dict[str, Any] = self.wait_for(f"pod {name}: {what}", probe, timeout)
        return result

    def pod(self, name: str, containers: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
        body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
                "spec": {"nodeName": self.name, "hostNetwork": True, "terminationGracePeriodSeconds": 2,
                         "containers": [{"image": BUSYBOX, **c} for c in containers], **spec}}
        self.apply(body)
        return body

    def log_file(self, pod: dict[str, Any], container: str, attempt: int = 0) -> Path:
        md = pod["metadata"]
        return (self.data_dir / "agent" / "pod-logs" / f"{md['namespace']}_{md['name']}_{md['uid']}" / container
                / f"{attempt}.log")

    def runtime_containers(self, uid: str) -> list[api_pb2.Container]:
        async def run() -> list[api_pb2.Container]:
            async with RuntimeClient(f"unix://{ContainerdPaths.for_data_dir(self.data_dir).socket}") as cri:
                answer = await cri.list_containers(filter=api_pb2.ContainerFilter(
                    label_selector={"io.kubernetes.pod.uid": uid}))
                return list(answer.containers)

        return asyncio.run(run())


def _phase(pod: dict[str, Any]) -> str:
    return str((pod.get("status") or {}).get("phase", ""))


def _status(pod: dict[str, Any], name: str) -> dict[str, Any]:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return next((s for s in statuses if s["name"] == name), {})


def _condition(pod: dict[str, Any], kind: str) -> str:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond["type"] == kind:
            return str(cond["status"])
    return ""


@pytest.fixture(scope="module")
def node() -> Iterator[Node]:
    base = Path(tempfile.mkdtemp(prefix="klk-"))
    data_dir = base / "d"
    cgroup_root = f"/kubelite-test-{uuid.uuid4().hex[:12]}"
    (base / "s").mkdir()
    try:
        server = start_server(base / "s")
    except BaseException:
        shutil.rmtree(base, ignore_errors=True)
        raise
    n = Node(base=base, data_dir=data_dir, server=server, name=f"kl-{uuid.uuid4().hex[:8]}",
             cgroup_root=cgroup_root)
    try:
        images = data_dir / "agent" / "images"
        images.mkdir(parents=True)
        pack_rootfs(busybox_rootfs(base / "busybox"), tag=BUSYBOX, cmd=["sh"], output=images / "busybox.tar")
        n.start_agent()
        n.wait_for("the node to register", lambda: n.get("node", n.name), timeout=90)
        yield n
    finally:
        try:
            n.stop_agent()
        finally:
            stop_server(server)
            _release_host_state(base, ContainerdPaths.for_data_dir(data_dir).socket, cgroup_root)
            _remove_cgroups(cgroup_root)


def _remove_cgroups(cgroup_root: str, timeout: float = 10.0) -> None:
    """Our cgroup root in every hierarchy: killed processes leave their cgroups a moment later."""
    deadline = time.monotonic() + timeout
    for hierarchy in Path("/sys/fs/cgroup").iterdir():
        root = hierarchy / cgroup_root.lstrip("/")
        while root.is_dir() and time.monotonic() < deadline:
            for directory, _, _ in os.walk(root, topdown=False):
                with contextlib.suppress(OSError):
                    os.rmdir(directory)
            if root.is_dir():
                time.sleep(0.1)


def test_node_registers_with_labels_taints_info_and_lease(node: Node) -> None:
    found = node.get("node", node.name)
    assert found is not None
    labels = found["metadata"]["labels"]
    assert labels["kubernetes.io/hostname"] == node.name
    assert labels["kubernetes.io/os"] == "linux" and labels["kubelite.test/pool"] == "a"
    # (the node lifecycle controller may add its own not-ready taints beside ours)
    assert {"key": "kubelite.test/dedicated", "value": "x", "effect": "PreferNoSchedule"} in found["spec"]["taints"]
    status = found["status"]
    assert status["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://")
    assert status["capacity"]["pods"] == "110" and int(status["capacity"]["cpu"]) >= 1
    assert {"type": "InternalIP", "address": "127.0.0.1"} in status["addresses"]
    assert status["daemonEndpoints"]["kubeletEndpoint"]["Port"] == 10250
    assert any(f"{BUSYBOX}" in image["names"] for image in status["images"])
    conditions = {c["type"]: c for c in status["conditions"]}
    assert set(conditions) == {"Ready", "MemoryPressure", "DiskPressure", "PIDPressure"}
    # no CNI config in this node's conf dir: the runtime says the network is not ready, as upstream words it
    assert conditions["Ready"]["status"] == "False"
    assert "container runtime network not ready: NetworkReady=false" in conditions["Ready"]["message"]
    lease = node.wait_for("the node lease", lambda: node.get("lease", node.name, "kube-node-lease"))
    assert lease["spec"]["holderIdentity"] == node.name and lease["spec"]["leaseDurationSeconds"] == 40
    wide = node.kubectl("get", "node", node.name, "-o", "wide").stdout
    assert "containerd://" in wide and "NotReady" in wide


def test_busybox_pod_reaches_running_with_status(node: Node) -> None:
    node.pod("web", [{"name": "main", "command": ["sleep", "3600"],
                      "resources": {"requests": {"cpu": "50m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}}}])
    pod = node.wait_pod("web", lambda p: _phase(p) == "Running" and _condition(p, "Ready") == "True", "Running")
    status = pod["status"]
    main = _status(pod, "main")
    assert main["ready"] is True and main["started"] is True and main["restartCount"] == 0
    assert "running" in main["state"] and main["containerID"].startswith("containerd://")
    assert main["image"] == BUSYBOX and main["imageID"]
    assert status["hostIP"] == "127.0.0.1" and status["podIP"] == "127.0.0.1"
    assert status["qosClass"] == "Burstable" and status["startTime"]
    assert {c["type"] for c in status["conditions"]} >= {"PodScheduled", "Initialized", "ContainersReady", "Ready",
                                                          "PodReadyToStartContainers"}
    assert "Running" in node.kubectl("get", "pod", "web").stdout
    # upstream's CRI labels let other components find the container
    containers = node.runtime_containers(pod["metadata"]["uid"])
    assert [c.labels["io.kubernetes.container.name"] for c in containers] == ["main"]
    assert containers[0].labels["io.kubernetes.pod.name"] == "web"
    assert containers[0].labels["io.kubernetes.pod.namespace"] == "default"
    events = node.kubectl("get", "events", "--field-selector", "involvedObject.name=web", "-o", "json").stdout
    reasons = {e["reason"] for e in json.loads(events)["items"]}
    assert {"Created", "Started"} <= reasons


def test_crashing_container_shows_crash_loop_back_off_growing(node: Node) -> None:
    node.pod("crash", [{"name": "c", "command": ["sh", "-c", "exit 3"]}])
    messages: list[str] = []

    def crash_looping() -> bool:
        pod = node.get("pod", "crash")
        if pod is None:
            return False
        st = _status(pod, "c")
        waiting = st.get("state", {}).get("waiting", {})
        if waiting.get("reason") == "CrashLoopBackOff" and waiting.get("message") not in messages:
            messages.append(waiting["message"])
        return len(messages) >= 2

    node.wait_for("two CrashLoopBackOff delays", crash_looping, timeout=60)
    pod = node.get("pod", "crash")
    assert pod is not None
    st = _status(pod, "c")
    assert st["lastState"]["terminated"]["exitCode"] == 3
    assert st["lastState"]["terminated"]["reason"] == "Error"
    assert st["restartCount"] >= 1 and _phase(pod) == "Running"
    # the delay doubles from the base: 1s, 2s, 4s ... (the test agent's base is 1s; upstream's is 10s); a short
    # window may pass between two polls, so what is seen grows and every value is base * 2^n
    delays = [int(m.split()[1].removesuffix("s")) for m in messages]
    assert delays == sorted(set(delays)) and all(d & (d - 1) == 0 for d in delays), messages
    assert messages[0].endswith(f"restarting failed container=c pod=crash_default({pod['metadata']['uid']})")
    assert "CrashLoopBackOff" in node.kubectl("get", "pod", "crash").stdout
    node.kubectl("delete", "pod", "crash", "--wait=false")


@pytest.mark.parametrize(("name", "policy", "script", "phase", "reason", "code"), [
    pytest.param("ok", "Never", "exit 0", "Succeeded", "Completed", 0, id="never-success"),
    pytest.param("bad", "Never", "exit 7", "Failed", "Error", 7, id="never-failure"),
    pytest.param("retry", "OnFailure", "test -e /data/x || { touch /data/x; exit 1; }", "Succeeded", "Completed", 0,
                 id="onfailure-restarts-until-success"),
])
def test_exit_codes_and_reasons(node: Node, name: str, policy: str, script: str, phase: str, reason: str,
                                code: int) -> None:
    # the emptyDir outlives a container restart (OnFailure case), as upstream's does
    node.pod(name, [{"name": "c", "command": ["sh", "-c", script],
                     "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
             restartPolicy=policy, volumes=[{"name": "data", "emptyDir": {}}])
    pod = node.wait_pod(name, lambda p: _phase(p) == phase, phase)
    terminated = _status(pod, "c")["state"]["terminated"]
    assert terminated["exitCode"] == code and terminated["reason"] == reason
    assert _condition(pod, "Ready") == "False"
    ready = next(c for c in pod["status"]["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "PodCompleted"
    node.kubectl("delete", "pod", name, "--wait=false")


def test_env_from_configmap_secret_fields_and_resources(node: Node) -> None:
    node.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "envcm"},
                "data": {"COLOR": "blue", "SIZE": "xl"}})
    node.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "envsecret"},
                "stringData": {"password": "s3cr3t"}})
    node.pod("envpod", [{
        "name": "c", "command": ["sh", "-c", "env | sort; cat /work/from-init"],
        "env": [{"name": "MY_COLOR", "valueFrom": {"configMapKeyRef": {"name": "envcm", "key": "COLOR"}}},
                {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "envsecret", "key": "password"}}},
                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                {"name": "MEM_LIMIT_MI", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory",
                                                                           "divisor": "1Mi"}}},
                {"name": "GREETING", "value": "hello-$(POD_NAME)"},
                {"name": "MISSING_OK", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "x",
                                                                        "optional": True}}}],
        "envFrom": [{"configMapRef": {"name": "envcm"}, "prefix": "CM_"}],
        "workingDir": "/work",
        "volumeMounts": [{"name": "work", "mountPath": "/work"}],
        "resources": {"limits": {"memory": "32Mi", "cpu": "100m"}}}],
        restartPolicy="Never", volumes=[{"name": "work", "emptyDir": {}}],
        initContainers=[{"name": "init", "image": BUSYBOX, "command": ["sh", "-c", "echo init-ran > /w/from-init"],
                         "volumeMounts": [{"name": "work", "mountPath": "/w"}]}])
    pod = node.wait_pod("envpod", lambda p: _phase(p) in ("Succeeded", "Failed"), "completion")
    assert _phase(pod) == "Succeeded", pod["status"]
    assert pod["status"]["qosClass"] == "Burstable"  # the init container sets no limits (upstream GetPodQOS)
    init = pod["status"]["initContainerStatuses"][0]
    assert init["state"]["terminated"]["reason"] == "Completed"
    text = node.log_file(pod, "c").read_text()
    for expected in ("MY_COLOR=blue", "PASSWORD=s3cr3t", "POD_NAME=envpod", f"NODE={node.name}", "MEM_LIMIT_MI=32",
                     "GREETING=hello-envpod", "CM_COLOR=blue", "CM_SIZE=xl", "PWD=/work", "init-ran",
                     "KUBERNETES_SERVICE_HOST=10.43.0.1", "KUBERNETES_SERVICE_PORT=443"):
        assert expected in text, (expected, text)
    assert "MISSING_OK" not in text


def test_missing_configmap_is_create_container_config_error(node: Node) -> None:
    node.pod("nocm", [{"name": "c", "command": ["sleep", "3600"],
                       "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "absent", "key": "k"}}}]}])
    pod = node.wait_pod("nocm", lambda p: _status(p, "c").get("state", {}).get("waiting", {}).get("reason")
                        == "CreateContainerConfigError", "CreateContainerConfigError")
    assert 'configmap "absent" not found' in _status(pod, "c")["state"]["waiting"]["message"]
    assert _phase(pod) == "Pending"
    node.kubectl("delete", "pod", "nocm", "--wait=false")


def test_missing_image_never_pulled_is_err_image_never_pull(node: Node) -> None:
    node.pod("noimg", [{"name": "c", "image": "kubelite.local/absent:1", "imagePullPolicy": "Never"}])
    pod = node.wait_pod("noimg", lambda p: _status(p, "c").get("state", {}).get("waiting", {}).get("reason")
                        == "ErrImageNeverPull", "ErrImageNeverPull")
    assert "is not present with pull policy of Never" in _status(pod, "c")["state"]["waiting"]["message"]
    node.kubectl("delete", "pod", "noimg", "--wait=false")


def test_configmap_volume_served_by_httpd_and_probes_flip_readiness(node: Node) -> None:
    port = free_port()
    node.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "site"},
                "data": {"index.html": "hello from a configMap\n"}})
    node.pod("httpd", [{
        "name": "web", "command": ["sh", "-c", f"sleep 5; exec httpd -f -p 127.0.0.1:{port} -h /www"],
        "volumeMounts": [{"name": "site", "mountPath": "/www", "readOnly": True}],
        "readinessProbe": {"httpGet": {"path": "/index.html", "port": port}, "periodSeconds": 1},
        "livenessProbe": {"tcpSocket": {"port": port}, "initialDelaySeconds": 8, "periodSeconds": 1}}],
        volumes=[{"name": "site", "configMap": {"name": "site"}}])
    # readiness starts failed while httpd is not up yet, then flips to ready
    pod = node.wait_pod("httpd", lambda p: "running" in _status(p, "web").get("state", {}), "running")
    assert _status(pod, "web")["ready"] is False
    pod = node.wait_pod("httpd", lambda p: _condition(p, "Ready") == "True", "Ready")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=5) as response:
        assert response.read() == b"hello from a configMap\n"
    assert _status(pod, "web")["restartCount"] == 0
    events = node.kubectl("get", "events", "--field-selector", "involvedObject.name=httpd", "-o", "json").stdout
    unhealthy = [e["message"] for e in json.loads(events)["items"] if e["reason"] == "Unhealthy"]
    assert unhealthy and unhealthy[0].startswith("Readiness probe failed:"), unhealthy


def test_failing_liveness_probe_restarts_the_container(node: Node) -> None:
    node.pod("live", [{"name": "c", "command": ["sleep", "3600"],
                       "livenessProbe": {"exec": {"command": ["cat", "/nonexistent"]}, "periodSeconds": 1,
                                         "failureThreshold": 1}}])
    pod = node.wait_pod("live", lambda p: _status(p, "c").get("restartCount", 0) >= 1, "a liveness restart")
    events = node.kubectl("get", "events", "--field-selector", "involvedObject.name=live", "-o", "json").stdout
    messages = [e["message"] for e in json.loads(events)["items"] if e["reason"] == "Killing"]
    assert any("failed liveness probe" in m for m in messages), messages
    assert pod["status"]["phase"] == "Running"
    node.kubectl("delete", "pod", "live", "--wait=false")


def test_deletion_stops_containers_and_removes_the_pod(node: Node) -> None:
    node.pod("doomed", [{"name": "c", "command": ["sleep", "3600"]}])
    pod = node.wait_pod("doomed", lambda p: _phase(p) == "Running", "Running")
    uid = pod["metadata"]["uid"]
    assert node.runtime_containers(uid)
    started = time.monotonic()
    node.kubectl("delete", "pod", "doomed", "--timeout=60s")  # waits until the kubelet removed it
    assert time.monotonic() - started < 30
    assert node.get("pod", "doomed") is None
    node.wait_for("the containers to be removed", lambda: not node.runtime_containers(uid), timeout=30)
    # the runtime removes the sandbox's and containers' cgroups; the pod level is the kubelet's to remove
    pod_cgroups = PodContainerManager(cgroup_root=node.cgroup_root)
    node.wait_for("the pod cgroup to be removed", lambda: not pod_cgroups.pod_cgroups(uid), timeout=10)


def test_agent_restart_adopts_running_pods(node: Node) -> None:
    node.pod("keeper", [{"name": "c", "command": ["sleep", "3600"]}])
    before = node.wait_pod("keeper", lambda p: _condition(p, "Ready") == "True", "Ready")
    container_id = _status(before, "c")["containerID"]
    assert node.stop_agent() == 0
    # the container keeps running without its agent
    node.start_agent()
    node.wait_for("the agent to come back", lambda: "kubelet" in node.log_tail() and os.path.exists(
        ContainerdPaths.for_data_dir(node.data_dir).socket), timeout=60)
    after = node.wait_pod("keeper", lambda p: _condition(p, "Ready") == "True" and _phase(p) == "Running",
                          "still Running after the agent restart")
    status = _status(after, "c")
    assert status["containerID"] == container_id and status["restartCount"] == 0
    # and the new agent drives pods: a fresh one starts
    node.pod("after-restart", [{"name": "c", "command": ["sleep", "3600"]}])
    node.wait_pod("after-restart", lambda p: _phase(p) == "Running", "Running")
    assert os.path.exists(node.log_file(after, "c"))


def test_projected_service_account_token_authenticates(node: Node) -> None:
    node.wait_for("the default ServiceAccount", lambda: node.get("serviceaccount", "default"))
    node.pod("tokenpod", [{"name": "c", "command": ["sh", "-c", "cat /var/run/secrets/tokens/token; echo; "
                                                                "cat /var/run/secrets/tokens/namespace"],
                           "volumeMounts": [{"name": "tok", "mountPath": "/var/run/secrets/tokens"}]}],
             restartPolicy="Never", volumes=[{"name": "tok", "projected": {"sources": [
                 {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}},
                 {"downwardAPI": {"items": [{"path": "namespace",
                                             "fieldRef": {"fieldPath": "metadata.namespace"}}]}}]}}])
    pod = node.wait_pod("tokenpod", lambda p: _phase(p) in ("Succeeded", "Failed"), "completion")
    assert _phase(pod) == "Succeeded", pod["status"]
    lines = [line.split(" ", 3)[-1] for line in node.log_file(pod, "c").read_text().splitlines()]
    token, namespace = lines[0], lines[1]
    assert token.count(".") == 2 and namespace == "default"
    # the API server accepts the token as the pod's ServiceAccount (401 would mean it is not a real token)
    request = urllib.request.Request(f"https://127.0.0.1:{node.server.port}/api",
                                     headers={"Authorization": f"Bearer {token}"})
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with urllib.request.urlopen(request, context=context, timeout=10) as response:
        assert response.status == 200


def test_lifecycle_hooks_run_on_start_and_before_stop(node: Node) -> None:
    shared = node.base / "hooks"
    shared.mkdir()
    node.pod("hooks", [{"name": "c", "command": ["sleep", "3600"],
                        "volumeMounts": [{"name": "host", "mountPath": "/host"}],
                        "lifecycle": {"postStart": {"exec": {"command": ["sh", "-c", "echo hi > /host/poststart"]}},
                                      "preStop": {"exec": {"command": ["sh", "-c", "echo bye > /host/prestop"]}}}}],
             volumes=[{"name": "host", "hostPath": {"path": str(shared), "type": "Directory"}}])
    node.wait_pod("hooks", lambda p: _phase(p) == "Running", "Running")
    node.wait_for("the postStart hook", (shared / "poststart").exists)
    node.kubectl("delete", "pod", "hooks", "--timeout=60s")
    assert (shared / "prestop").read_text() == "bye\n"


def test_out_of_memory_container_shows_oom_killed(node: Node) -> None:
    node.pod("oom", [{"name": "c", "command": ["sh", "-c", "a=$(head -c 300000000 /dev/zero | tr '\\0' x)"],
                      "resources": {"limits": {"memory": "24Mi"}}}], restartPolicy="Never")
    pod = node.wait_pod("oom", lambda p: _phase(p) in ("Failed", "Succeeded"), "termination")
    terminated = _status(pod, "c")["state"]["terminated"]
    assert terminated["reason"] == "OOMKilled" and terminated["exitCode"] == 137, terminated
    assert _phase(pod) == "Failed"
    node.kubectl("delete", "pod", "oom", "--wait=false")


def test_archive_dropped_into_the_images_dir_is_imported(node: Node) -> None:
    image = "kubelite.local/dropped:1"
    partial = node.base / "dropped.tar"
    pack_rootfs(busybox_rootfs(node.base / "dropped-rootfs"), tag=image, cmd=["sh"], output=partial)
    partial.rename(node.data_dir / "agent" / "images" / "dropped.tar")  # appears whole, as an airgap copy should
    node.pod("dropped", [{"name": "c", "image": image, "imagePullPolicy": "Never", "command": ["sleep", "3600"]}])
    node.wait_pod("dropped", lambda p: _phase(p) == "Running", "Running on the dropped image", timeout=60)
    node.kubectl("delete", "pod", "dropped", "--wait=false")


def test_orphaned_sandboxes_of_unknown_pods_are_removed(node: Node) -> None:
    uid = str(uuid.uuid4())
    socket = ContainerdPaths.for_data_dir(node.data_dir).socket

    async def run_orphan() -> str:
        async with RuntimeClient(f"unix://{socket}") as cri:
            config = api_pb2.PodSandboxConfig(
                metadata=api_pb2.PodSandboxMetadata(name="ghost", uid=uid, namespace="default"),
                log_directory=str(node.base / "ghost-logs"),
                labels={"io.kubernetes.pod.uid": uid, "io.kubernetes.pod.name": "ghost",
                        "io.kubernetes.pod.namespace": "default", "io.kubernetes.kubelet.managed": "true"},
                linux=api_pb2.LinuxPodSandboxConfig(
                    cgroup_parent=f"{node.cgroup_root}/besteffort/pod{uid}",
                    security_context=api_pb2.LinuxSandboxSecurityContext(namespace_options=api_pb2.NamespaceOption(
                        network=api_pb2.NODE, pid=api_pb2.CONTAINER, ipc=api_pb2.POD))))
            return str((await cri.run_pod_sandbox(config=config)).pod_sandbox_id)

    async def sandbox_exists(sandbox_id: str) -> bool:
        async with RuntimeClient(f"unix://{socket}") as cri:
            answer = await cri.list_pod_sandbox(filter=api_pb2.PodSandboxFilter(id=sandbox_id))
            return bool(answer.items)

    sandbox_id = asyncio.run(run_orphan())
    # no pod with this UID exists in the API: the kubelet's relist finds the sandbox and removes it
    node.wait_for("the orphaned sandbox to be removed", lambda: not asyncio.run(sandbox_exists(sandbox_id)),
                  timeout=30)


@pytest.mark.parametrize(("name", "script", "policy", "message"), [
    pytest.param("msgfile", "echo goodbye > /dev/termination-log; exit 2", "File", "goodbye\n", id="file"),
    pytest.param("msglog", "echo from-the-log; exit 3", "FallbackToLogsOnError", "from-the-log", id="fallback-to-log"),
])
def test_termination_message(node: Node, name: str, script: str, policy: str, message: str) -> None:
    node.pod(name, [{"name": "c", "command": ["sh", "-c", script], "terminationMessagePolicy": policy}],
             restartPolicy="Never")
    pod = node.wait_pod(name, lambda p: _phase(p) == "Failed", "Failed")
    assert _status(pod, "c")["state"]["terminated"]["message"] == message
    node.kubectl("delete", "pod", name, "--wait=false")


def test_static_pod_manifest_runs_as_a_mirror_pod(node: Node) -> None:
    manifests = node.data_dir / "agent" / "pod-manifests"
    manifest = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "static-web"},
                "spec": {"hostNetwork": True, "terminationGracePeriodSeconds": 1,
                         "containers": [{"name": "c", "image": BUSYBOX, "command": ["sleep", "3600"]}]}}
    (manifests / "web.json.partial").write_text(json.dumps(manifest))
    (manifests / "web.json.partial").rename(manifests / "web.json")
    mirror = f"static-web-{node.name}"
    pod = node.wait_pod(mirror, lambda p: _phase(p) == "Running", "the mirror pod Running")
    annotations = pod["metadata"]["annotations"]
    assert annotations["kubernetes.io/config.source"] == "file"
    assert annotations["kubernetes.io/config.mirror"] == annotations["kubernetes.io/config.hash"]
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "Node"
    (manifests / "web.json").unlink()
    node.wait_for("the mirror pod to go with its manifest", lambda: node.get("pod", mirror) is None, timeout=60)


def test_a_command_that_does_not_exist_fails_clearly_and_backs_off(node: Node) -> None:
    node.pod("nocmd", [{"name": "c", "command": ["/does/not/exist"]}])
    pod = node.wait_pod("nocmd", lambda p: _status(p, "c").get("state", {}).get("waiting", {}).get("reason")
                        in ("RunContainerError", "CrashLoopBackOff")
                        and "terminated" in _status(p, "c").get("lastState", {}), "a start failure")
    last = _status(pod, "c")["lastState"]["terminated"]
    assert last["exitCode"] == 128 and last["reason"] == "StartError", last
    assert "/does/not/exist" in last.get("message", ""), last
    node.kubectl("delete", "pod", "nocmd", "--wait=false")


def test_an_unmountable_volume_shows_failed_mount_and_the_pod_starts_once_it_can_mount(node: Node) -> None:
    missing = node.base / "not-yet"
    node.pod("nomount", [{"name": "c", "command": ["sleep", "3600"],
                          "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
             volumes=[{"name": "data", "hostPath": {"path": str(missing), "type": "Directory"}}])

    def failed_mounts() -> list[str] | None:
        events = node.kubectl("get", "events", "--field-selector", "involvedObject.name=nomount", "-o", "json")
        found = [e["message"] for e in json.loads(events.stdout)["items"] if e["reason"] == "FailedMount"]
        return found or None

    messages = node.wait_for("a FailedMount Event", failed_mounts)
    assert any(f"{missing} is not a Directory" in m and 'volume "data"' in m for m in messages), messages
    pod = node.get("pod", "nomount")
    assert pod is not None and _phase(pod) == "Pending"
    assert _status(pod, "c").get("state", {}).get("waiting", {}).get("reason") == "ContainerCreating", pod["status"]
    missing.mkdir()  # the kubelet retries the mount and the pod starts, as upstream's volume manager
    node.wait_pod("nomount", lambda p: _phase(p) == "Running", "Running once the directory exists")
    node.kubectl("delete", "pod", "nomount", "--wait=false")


def test_run_as_non_root_refuses_a_root_image_and_runs_as_the_given_user(node: Node) -> None:
    node.pod("rootimg", [{"name": "c", "command": ["sleep", "3600"], "securityContext": {"runAsNonRoot": True}}])
    pod = node.wait_pod("rootimg", lambda p: _status(p, "c").get("state", {}).get("waiting", {}).get("reason")
                        == "CreateContainerConfigError", "CreateContainerConfigError")
    assert "image will run as root" in _status(pod, "c")["state"]["waiting"]["message"]
    node.kubectl("delete", "pod", "rootimg", "--wait=false")
    node.pod("nonroot", [{"name": "c", "command": ["sh", "-c", "id -u"],
                          "securityContext": {"runAsNonRoot": True, "runAsUser": 1234}}], restartPolicy="Never")
    pod = node.wait_pod("nonroot", lambda p: _phase(p) == "Succeeded", "Succeeded")
    assert "1234" in node.log_file(pod, "c").read_text()


def test_containerd_crash_is_survived(node: Node) -> None:
    node.pod("survivor", [{"name": "c", "command": ["sleep", "3600"]}])
    before = node.wait_pod("survivor", lambda p: _condition(p, "Ready") == "True", "Ready")
    container_id = _status(before, "c")["containerID"]
    assert node.agent is not None
    agent = psutil.Process(node.agent.pid)
    containerd = [p for p in agent.children() if p.name() == "containerd"]
    assert len(containerd) == 1
    containerd[0].kill()  # the agent's own child: its supervisor restarts it
    containerd[0].wait(timeout=10)
    node.wait_for("containerd to be restarted by the agent",
                  lambda: any(p.name() == "containerd" and p.pid != containerd[0].pid for p in agent.children()))
    node.pod("after-crash", [{"name": "c", "command": ["sleep", "3600"]}])
    node.wait_pod("after-crash", lambda p: _phase(p) == "Running", "Running after the containerd restart")
    after = node.get("pod", "survivor")
    assert after is not None and _status(after, "c")["containerID"] == container_id
    assert _status(after, "c")["restartCount"] == 0 and node.agent.poll() is None


def test_an_unpullable_image_shows_err_image_pull_then_image_pull_back_off(node: Node) -> None:
    # nothing listens on loopback port 1: the pull fails at once, as from an unreachable registry
    node.pod("nopull", [{"name": "c", "image": "127.0.0.1:1/absent:1", "imagePullPolicy": "IfNotPresent"}])
    node.wait_pod("nopull", lambda p: _status(p, "c").get("state", {}).get("waiting", {}).get("reason")
                  == "ImagePullBackOff", "ImagePullBackOff")

    def messages() -> list[str] | None:
        events = node.kubectl("get", "events", "--field-selector", "involvedObject.name=nopull", "-o", "json")
        found = [e["message"] for e in json.loads(events.stdout)["items"] if e["reason"] in ("Failed", "BackOff")]
        return found if "Error: ImagePullBackOff" in found else None

    # ErrImagePull lasts one back-off (1 s in this test agent): the Events keep the sequence, as upstream's
    seen = node.wait_for("the pull Events", messages)
    assert any(m.startswith('Failed to pull image "127.0.0.1:1/absent:1": failed to pull and unpack image')
               for m in seen), seen
    assert "Error: ErrImagePull" in seen and 'Back-off pulling image "127.0.0.1:1/absent:1"' in seen, seen
    pod = node.get("pod", "nopull")
    assert pod is not None and _phase(pod) == "Pending"
    node.kubectl("delete", "pod", "nopull", "--wait=false")


def _push_oci_archive(archive: Path, registry: str, repository: str, tag: str, auth: dict[str, str]) -> None:
    """Push a single-manifest OCI archive (what pack_rootfs writes) with the registry v2 HTTP API."""
    import tarfile

    with tarfile.open(archive) as tar:
        def blob(digest: str) -> bytes:
            member = tar.extractfile(f"blobs/sha256/{digest.split(':', 1)[1]}")
            assert member is not None
            return member.read()

        index_member = tar.extractfile("index.json")
        assert index_member is not None
        manifest_ref = json.loads(index_member.read())["manifests"][0]
        manifest_bytes = blob(manifest_ref["digest"])
        manifest = json.loads(manifest_bytes)
        for ref in [manifest["config"], *manifest["layers"]]:
            start = urllib.request.Request(f"http://{registry}/v2/{repository}/blobs/uploads/", method="POST",
                                           headers=auth)
            with urllib.request.urlopen(start, timeout=10) as response:
                location = response.headers["Location"]
            if location.startswith("/"):
                location = f"http://{registry}{location}"
            upload = urllib.request.Request(f"{location}{'&' if '?' in location else '?'}digest={ref['digest']}",
                                            data=blob(ref["digest"]), method="PUT",
                                            headers={"Content-Type": "application/octet-stream", **auth})
            with urllib.request.urlopen(upload, timeout=30) as response:
                assert response.status == 201
        put = urllib.request.Request(f"http://{registry}/v2/{repository}/manifests/{tag}", data=manifest_bytes,
                                     method="PUT", headers={"Content-Type": manifest_ref["mediaType"], **auth})
        with urllib.request.urlopen(put, timeout=10) as response:
            assert response.status == 201


@pytest.mark.skipif(shutil.which("docker-registry") is None, reason="docker-registry is not installed")
@pytest.mark.parametrize("basic_auth", [False, True], ids=["anonymous", "basic-auth"])
def test_image_pulled_from_a_registry_on_loopback(node: Node, basic_auth: bool) -> None:
    import base64
    import warnings

    with warnings.catch_warnings():  # crypt (gone in 3.13) is the one bcrypt here, for the htpasswd file
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt

    port = free_port()
    registry = f"127.0.0.1:{port}"
    name = "pulled-auth" if basic_auth else "pulled"
    workdir = node.base / f"registry-{name}"
    workdir.mkdir()
    config = (f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {workdir / 'data'}\n"
              f"http:\n  addr: {registry}\n")
    headers: dict[str, str] = {}
    if basic_auth:
        (workdir / "htpasswd").write_text(f"puller:{crypt.crypt('s3cret', crypt.mksalt(crypt.METHOD_BLOWFISH))}\n")
        config += f"auth:\n  htpasswd:\n    realm: kubelite-test\n    path: {workdir / 'htpasswd'}\n"
        headers = {"Authorization": "Basic " + base64.b64encode(b"puller:s3cret").decode()}
        config_json = json.dumps({"auths": {registry: {"username": "puller", "password": "s3cret"}}})
        node.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "regcred"},
                    "type": "kubernetes.io/dockerconfigjson",
                    "data": {".dockerconfigjson": base64.b64encode(config_json.encode()).decode()}})
    (workdir / "config.yml").write_text(config)
    # containerd reaches this registry over plain HTTP: a hosts.toml in the node's registry config dir
    hosts = ContainerdPaths.for_data_dir(node.data_dir).registry_config_dir / registry
    hosts.mkdir(parents=True)
    (hosts / "hosts.toml").write_text(f'server = "http://{registry}"\n\n[host."http://{registry}"]\n'
                                      '  capabilities = ["pull", "resolve"]\n')
    with (workdir / "registry.log").open("ab") as out:
        process = subprocess.Popen(["docker-registry", "serve", str(workdir / "config.yml")], stdout=out,
                                   stderr=subprocess.STDOUT)
    try:
        def up() -> bool:
            try:
                with urllib.request.urlopen(f"http://{registry}/v2/", timeout=1) as response:
                    return response.status == 200
            except urllib.error.HTTPError as err:
                return err.code == 401  # up, and asking for credentials
            except OSError:
                return False

        node.wait_for("the registry", up, timeout=30)
        archive = pack_rootfs(busybox_rootfs(workdir / "rootfs"), tag="kubelite.local/pushed:1",
                              cmd=["sh"], output=workdir / "pushed.tar")
        _push_oci_archive(archive, registry, "kl/pulled", "1", headers)
        image = f"{registry}/kl/pulled:1"
        if basic_auth:
            # without the pull secret the registry refuses the kubelet
            node.pod("noauth", [{"name": "c", "image": image, "imagePullPolicy": "Always"}])
            node.wait_pod("noauth", lambda p: _status(p, "c").get("state", {}).get("waiting", {}).get("reason")
                          in ("ErrImagePull", "ImagePullBackOff"), "ErrImagePull without credentials")
            node.kubectl("delete", "pod", "noauth", "--wait=false")
        spec = {"imagePullSecrets": [{"name": "regcred"}]} if basic_auth else {}
        node.pod(name, [{"name": "c", "image": image, "imagePullPolicy": "Always", "command": ["sleep", "3600"]}],
                 **spec)
        pod = node.wait_pod(name, lambda p: _phase(p) == "Running", "Running on the pulled image")
        assert _status(pod, "c")["imageID"]
        events = node.kubectl("get", "events", "--field-selector", f"involvedObject.name={name}", "-o", "json").stdout
        reasons = [e["reason"] for e in json.loads(events)["items"]]
        assert "Pulling" in reasons and "Pulled" in reasons
        node.kubectl("delete", "pod", name, "--wait=false")
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
