"""computePodActions: what a sync does to the runtime, from spec and runtime state; image pull policy."""

from __future__ import annotations

import pytest
from kubelet_builders import RuntimeBuilder, make_pod

from kubelite.agent.kubelet.kuberuntime import (
    compute_pod_actions,
    default_pull_policy,
    go_duration,
    registry_of,
)
from kubelite.agent.kubelet.runtime_state import PodRuntime


def names(actions_start: list[dict[str, object]]) -> list[object]:
    return [c["name"] for c in actions_start]


def test_a_new_pod_gets_a_sandbox_and_its_first_init_container() -> None:
    pod = make_pod(init=[{"name": "i1"}, {"name": "i2"}])
    actions = compute_pod_actions(pod, PodRuntime(uid="uid-1"), liveness_failed={})
    assert actions.create_sandbox and actions.sandbox_attempt == 0 and names(actions.start) == ["i1"]


def test_init_containers_run_in_order_then_the_containers() -> None:
    pod = make_pod({"name": "a"}, {"name": "b"}, init=[{"name": "i1"}, {"name": "i2"}])
    running_first = RuntimeBuilder(pod).sandbox().container("i1", "running").build()
    assert compute_pod_actions(pod, running_first, liveness_failed={}).start == []
    first_done = RuntimeBuilder(pod).sandbox().container("i1", "exited").build()
    assert names(compute_pod_actions(pod, first_done, liveness_failed={}).start) == ["i2"]
    all_done = RuntimeBuilder(pod).sandbox().container("i1", "exited").container("i2", "exited").build()
    assert names(compute_pod_actions(pod, all_done, liveness_failed={}).start) == ["a", "b"]


@pytest.mark.parametrize(("restart", "exit_code", "restarts", "done"), [
    pytest.param("Always", 0, True, False, id="always-restarts-success"),
    pytest.param("Always", 1, True, False, id="always-restarts-failure"),
    pytest.param("OnFailure", 1, True, False, id="onfailure-restarts-failure"),
    pytest.param("OnFailure", 0, False, True, id="onfailure-done-on-success"),
    pytest.param("Never", 1, False, True, id="never-done"),
])
def test_restart_policy(restart: str, exit_code: int, restarts: bool, done: bool) -> None:
    pod = make_pod(restart=restart)
    state = RuntimeBuilder(pod).sandbox().container("c", "exited", exit_code=exit_code).build()
    actions = compute_pod_actions(pod, state, liveness_failed={})
    assert bool(actions.start) is restarts and actions.done is done


def test_failed_init_container_fails_a_never_pod_and_restarts_otherwise() -> None:
    never = make_pod(init=[{"name": "i"}], restart="Never")
    state = RuntimeBuilder(never).sandbox().container("i", "exited", exit_code=2).build()
    assert compute_pod_actions(never, state, liveness_failed={}).done
    always = make_pod(init=[{"name": "i"}])
    state = RuntimeBuilder(always).sandbox().container("i", "exited", exit_code=2).build()
    assert names(compute_pod_actions(always, state, liveness_failed={}).start) == ["i"]


def test_liveness_failure_kills_and_restarts_and_a_changed_spec_restarts() -> None:
    pod = make_pod({"name": "c", "image": "img:1"})
    state = RuntimeBuilder(pod).sandbox().container("c", "running").build()
    cid = state.containers[0].id
    actions = compute_pod_actions(pod, state, liveness_failed={cid: "Container c failed liveness probe"})
    assert actions.kill == {cid: "Container c failed liveness probe"} and names(actions.start) == ["c"]
    changed = make_pod({"name": "c", "image": "img:2"})
    actions = compute_pod_actions(changed, state, liveness_failed={})
    assert cid in actions.kill and names(actions.start) == ["c"]
    assert compute_pod_actions(pod, state, liveness_failed={}).kill == {}


def test_a_dead_sandbox_is_recreated_with_the_next_attempt_unless_never() -> None:
    pod = make_pod()
    state = RuntimeBuilder(pod).sandbox(ready=False, attempt=2).container("c", "running").build()
    actions = compute_pod_actions(pod, state, liveness_failed={})
    assert actions.create_sandbox and actions.sandbox_attempt == 3 and state.containers[0].id in actions.kill
    never = make_pod(restart="Never")
    state = RuntimeBuilder(never).sandbox(ready=False).container("c", "exited").build()
    actions = compute_pod_actions(never, state, liveness_failed={})
    assert actions.done and not actions.create_sandbox


@pytest.mark.parametrize(("seconds", "text"), [(10, "10s"), (80, "1m20s"), (300, "5m0s"), (3600, "1h0m0s")])
def test_go_duration(seconds: float, text: str) -> None:
    assert go_duration(seconds) == text


@pytest.mark.parametrize(("image", "policy", "registry"), [
    ("busybox", "Always", "docker.io"), ("busybox:latest", "Always", "docker.io"),
    ("busybox:1.36", "IfNotPresent", "docker.io"), ("localhost:5000/app:1", "IfNotPresent", "localhost:5000"),
    ("reg.example/app@sha256:abc", "IfNotPresent", "reg.example"), ("library/app", "Always", "docker.io"),
])
def test_pull_policy_defaults_and_registry(image: str, policy: str, registry: str) -> None:
    assert default_pull_policy(image) == policy
    assert registry_of(image) == registry
