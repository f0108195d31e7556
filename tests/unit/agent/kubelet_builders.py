"""Builders for kubelet unit tests: pods and runtime snapshots (not a test module)."""

from __future__ import annotations

from typing import Any

from kubelite.agent.kubelet.runtime_state import ContainerRecord, PodRuntime, SandboxRecord, container_hash


def make_pod(*containers: dict[str, Any], init: list[dict[str, Any]] | None = None, restart: str = "Always",
             **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"metadata": {"name": "p", "namespace": "ns", "uid": "uid-1"},
                            "spec": {"restartPolicy": restart, "nodeName": "n1",
                                     "containers": list(containers) or [{"name": "c", "image": "img:1"}], **spec},
                            "status": {}}
    if init:
        body["spec"]["initContainers"] = init
    return body


class RuntimeBuilder:
    def __init__(self, pod: dict[str, Any]) -> None:
        self.pod = pod
        self.state = PodRuntime(uid=pod["metadata"]["uid"])
        self._n = 0

    def sandbox(self, *, ready: bool = True, attempt: int = 0, ip: str = "10.42.0.5") -> RuntimeBuilder:
        self.state.sandboxes.insert(0, SandboxRecord(id=f"sb{attempt}", attempt=attempt, ready=ready,
                                                     created_at=attempt, name="p", namespace="ns", ip=ip))
        return self

    def container(self, name: str, state: str, *, exit_code: int = 0, restart_count: int = 0,
                  reason: str = "", spec: dict[str, Any] | None = None) -> RuntimeBuilder:
        self._n += 1
        specs = [*self.pod["spec"].get("initContainers", []), *self.pod["spec"]["containers"]]
        spec = spec or next((c for c in specs if c["name"] == name), {"name": name})
        sandbox = self.state.sandboxes[0].id if self.state.sandboxes else ""
        record = ContainerRecord(id=f"{name}-{self._n}", name=name, attempt=restart_count, state=state,
                                 sandbox_id=sandbox, created_at=self._n * 10**9, started_at=self._n * 10**9,
                                 finished_at=(self._n + 1) * 10**9 if state == "exited" else 0, exit_code=exit_code,
                                 reason=reason, image_ref="sha256:abc", restart_count=restart_count,
                                 hash=container_hash(spec))
        self.state.containers.insert(0, record)
        return self

    def build(self) -> PodRuntime:
        return self.state
