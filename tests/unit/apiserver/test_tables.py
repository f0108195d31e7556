"""Server-side Table printing, kubelite.controlplane.apiserver.tables.

Cases are ported from upstream ``pkg/printers/internalversion/printers_test.go`` (release 1.32):
TestPrintPod, TestPrintPodWithRestartableInitContainer, TestPrintPodwide, TestPrintNonTerminatedPod,
TestPrintService, TestPrintServiceLoadBalancer, TestPrintNode*, TestPrintDeployment, TestPrintJob,
TestPrintEvent, TestTranslateTimestampSince and friends. Upstream compares the rows its printers
return for ``GenerateOptions{}`` and ``{Wide: true}``; the API server always generates the wide row,
so the expectations here are the wide rows (for a non-wide upstream case, its cells followed by the
wide cells). Times are relative to a fixed NOW instead of time.Now().
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubelite.controlplane.apiserver.errors import APIError
from kubelite.controlplane.apiserver.tables import (
    TableConversionError,
    column_definitions,
    custom_resource_cells,
    custom_resource_columns,
    human_duration,
    row_cells,
    to_table,
    translate_timestamp_since,
    validate_printer_column_path,
)

Obj = dict[str, Any]

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def at(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def ago(**delta: float) -> str:
    return at(NOW - timedelta(**delta))


def ahead(**delta: float) -> str:
    return at(NOW + timedelta(**delta))


ALMOST_NOW = ahead(seconds=1.9)  # upstream's time.Now().Add(1.9e9): prints "0s"


def meta(name: str = "", **fields: Any) -> Obj:
    return {"name": name, **fields}


# --- pods ---------------------------------------------------------------------------------------


def running() -> Obj:
    return {"running": {}}


def waiting(reason: str = "") -> Obj:
    return {"waiting": {"reason": reason} if reason else {}}


def terminated(reason: str = "", exit_code: int = 0, signal: int = 0) -> Obj:
    state: Obj = {"exitCode": exit_code}
    if reason:
        state["reason"] = reason
    if signal:
        state["signal"] = signal
    return {"terminated": state}


def status(*, ready: bool = False, restarts: int = 0, state: Obj | None = None, finished: str | None = None,
           name: str = "", started: bool | None = None) -> Obj:
    """A container status; ``finished`` is when the last termination (lastState.terminated) finished."""
    result: Obj = {"name": name, "ready": ready, "restartCount": restarts, "state": state or {}}
    if finished is not None:
        result["lastState"] = {"terminated": {"exitCode": 0, "finishedAt": finished}}
    if started is not None:
        result["started"] = started
    return result


def pod(name: str, *, containers: int = 1, init: list[Obj] | None = None, phase: str = "", reason: str = "",
        statuses: list[Obj] | None = None, init_statuses: list[Obj] | None = None,
        conditions: list[Obj] | None = None, deleted: bool = False, **spec: Any) -> Obj:
    metadata = meta(name)
    if deleted:
        metadata["deletionTimestamp"] = ago(seconds=10)
    pod_status: Obj = {"phase": phase, "containerStatuses": statuses or [],
                       "initContainerStatuses": init_statuses or [], "conditions": conditions or []}
    if reason:
        pod_status["reason"] = reason
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata,
            "spec": {"containers": [{"name": f"c{i}"} for i in range(containers)], "initContainers": init or [],
                     **spec},
            "status": pod_status}


SIDECARS = [{"name": "restartable-init-1", "restartPolicy": "Always"},
            {"name": "restartable-init-2", "restartPolicy": "Always"}]
NO_WIDE = ["<none>", "<none>", "<none>", "<none>"]


@pytest.mark.parametrize(("obj", "expected"), [
    pytest.param(pod("test1", containers=2, phase="podPhase",
                     statuses=[status(ready=True, restarts=3, state=running()), status(restarts=3)]),
                 ["test1", "1/2", "podPhase", "6", "<unknown>"], id="upstream-test1-ready-count-and-restarts"),
    pytest.param(pod("test2", containers=2, phase="podPhase",
                     statuses=[status(ready=True, restarts=3, state=running()),
                               status(restarts=3, state=waiting("ContainerWaitingReason"))]),
                 ["test2", "1/2", "ContainerWaitingReason", "6", "<unknown>"],
                 id="upstream-test2-container-waiting-reason-overrides-phase"),
    pytest.param(pod("test3", containers=2, phase="podPhase",
                     statuses=[status(restarts=3, state=waiting("ContainerWaitingReason")),
                               status(restarts=3, state=terminated("ContainerTerminatedReason"))]),
                 ["test3", "0/2", "ContainerWaitingReason", "6", "<unknown>"],
                 id="upstream-test3-first-container-wins"),
    pytest.param(pod("test4", containers=2, phase="podPhase",
                     statuses=[status(ready=True, restarts=3, state=running()), status(ready=True, restarts=3)]),
                 ["test4", "1/2", "podPhase", "6", "<unknown>"], id="upstream-test4-ready-without-running"),
    pytest.param(pod("test5", containers=2, phase="podPhase", reason="podReason",
                     statuses=[status(ready=True, restarts=3, state=running()), status(ready=True, restarts=3)]),
                 ["test5", "1/2", "podReason", "6", "<unknown>"], id="upstream-test5-pod-reason"),
    pytest.param(pod("test6", containers=2, phase="Running",
                     statuses=[status(ready=True, restarts=3, state=terminated("Completed")),
                               status(ready=True, restarts=3, state=running())]),
                 ["test6", "1/2", "NotReady", "6", "<unknown>"], id="upstream-test6-completed-and-running-not-ready"),
    pytest.param(pod("test6", containers=2, phase="Running",
                     statuses=[status(ready=True, restarts=3, state=terminated("Completed")),
                               status(ready=True, restarts=3, state=running())],
                     conditions=[{"type": "Ready", "status": "True"}]),
                 ["test6", "1/2", "Running", "6", "<unknown>"], id="upstream-test6-completed-and-running-ready"),
    pytest.param(pod("test7", init=[{}], phase="podPhase",
                     init_statuses=[status(restarts=3, state=running(), finished=ago(seconds=10))],
                     statuses=[status(state=waiting())]),
                 ["test7", "0/1", "Init:0/1", "3 (10s ago)", "<unknown>"], id="upstream-test7-init-restarting"),
    pytest.param(pod("test8", init=[{}, {}], phase="podPhase",
                     init_statuses=[status(restarts=3, state=running(), finished=ago(seconds=10)),
                                    status(state=waiting())],
                     statuses=[status(state=waiting())]),
                 ["test8", "0/1", "Init:0/2", "3 (10s ago)", "<unknown>"], id="upstream-test8-first-of-two-inits"),
    pytest.param(pod("test9", init=[{}, {}], phase="podPhase",
                     init_statuses=[status(state={"terminated": {}}),
                                    status(restarts=3, state=running(), finished=ago(seconds=10))],
                     statuses=[status(state=waiting())]),
                 ["test9", "0/1", "Init:1/2", "3 (10s ago)", "<unknown>"], id="upstream-test9-second-init-running"),
    pytest.param(pod("test10", init=[{}, {}], phase="podPhase",
                     init_statuses=[status(restarts=2, state={"terminated": {}}, finished=ago(minutes=2)),
                                    status(restarts=3, state=running(), finished=ago(seconds=10))],
                     statuses=[status(state=waiting())]),
                 ["test10", "0/1", "Init:1/2", "5 (10s ago)", "<unknown>"], id="upstream-test10-init-restarts-summed"),
    pytest.param(pod("test11", init=[{}], phase="Running",
                     init_statuses=[status(restarts=2, state={"terminated": {}}, finished=ago(minutes=2))],
                     statuses=[status(restarts=4, state=running(), finished=ago(seconds=20))]),
                 ["test11", "0/1", "Running", "4 (20s ago)", "<unknown>"],
                 id="upstream-test11-finished-init-restarts-not-counted"),
    pytest.param(pod("test12", phase="Running",
                     statuses=[status(ready=True, restarts=3, state=running(), finished=ago(days=5))]),
                 ["test12", "1/1", "Running", "3 (5d ago)", "<unknown>"], id="upstream-test12-restarted-5d-ago"),
    pytest.param(pod("test13", containers=2, phase="Running",
                     statuses=[status(ready=True, state=running()),
                               status(ready=True, restarts=3, state=running(), finished=ago(days=10))]),
                 ["test13", "2/2", "Running", "3 (10d ago)", "<unknown>"], id="upstream-test13"),
    pytest.param(pod("test14", containers=2, phase="Running",
                     statuses=[status(ready=True, restarts=6, state=running(), finished=ago(days=5)),
                               status(ready=True, restarts=3, state=running(), finished=ago(days=20))]),
                 ["test14", "2/2", "Running", "9 (5d ago)", "<unknown>"], id="upstream-test14-latest-restart-wins"),
    pytest.param(pod("test15", containers=2, phase="podPhase",
                     conditions=[{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]),
                 ["test15", "0/2", "SchedulingGated", "0", "<unknown>"], id="upstream-test15-scheduling-gated"),
    pytest.param(pod("test16", phase="Succeeded", statuses=[status(state=terminated("Completed"))]),
                 ["test16", "0/1", "Completed", "0", "<unknown>"], id="upstream-test16-succeeded"),
    pytest.param(pod("test17", phase="Failed", statuses=[status(state=terminated("Error", exit_code=1))]),
                 ["test17", "0/1", "Error", "0", "<unknown>"], id="upstream-test17-failed"),
    pytest.param(pod("test18", phase="Succeeded", deleted=True, statuses=[status(state=terminated("Completed"))]),
                 ["test18", "0/1", "Completed", "0", "<unknown>"], id="upstream-test18-deleted-succeeded-stays"),
    pytest.param(pod("test19", phase="Running", deleted=True, statuses=[status(state=running())]),
                 ["test19", "0/1", "Terminating", "0", "<unknown>"], id="upstream-test19-deleted-running-terminating"),
    pytest.param(pod("test20", phase="Pending", deleted=True),
                 ["test20", "0/1", "Terminating", "0", "<unknown>"], id="upstream-test20-deleted-pending-terminating"),
    pytest.param(pod("lost", phase="Running", reason="NodeLost", deleted=True, statuses=[status(state=running())]),
                 ["lost", "0/1", "Unknown", "0", "<unknown>"], id="deleted-on-lost-node-unknown"),
    pytest.param(pod("creating", phase="Pending", statuses=[status(state=waiting("ContainerCreating"))]),
                 ["creating", "0/1", "ContainerCreating", "0", "<unknown>"], id="container-creating"),
    pytest.param(pod("crash", phase="Running",
                     statuses=[status(restarts=5, state=waiting("CrashLoopBackOff"),
                                      finished=ago(minutes=2, seconds=3))]),
                 ["crash", "0/1", "CrashLoopBackOff", "5 (2m3s ago)", "<unknown>"], id="crash-loop-back-off"),
    pytest.param(pod("init-crash", init=[{}], phase="Pending",
                     init_statuses=[status(restarts=2, state=waiting("CrashLoopBackOff"), finished=ago(seconds=30))],
                     statuses=[status(state=waiting("PodInitializing"))]),
                 ["init-crash", "0/1", "Init:CrashLoopBackOff", "2 (30s ago)", "<unknown>"],
                 id="init-crash-loop-back-off"),
    pytest.param(pod("init-pod-initializing", init=[{}], phase="Pending",
                     init_statuses=[status(state=waiting("PodInitializing"))]),
                 ["init-pod-initializing", "0/1", "Init:0/1", "0", "<unknown>"],
                 id="init-waiting-pod-initializing-shows-progress"),
    pytest.param(pod("init-error", init=[{}], phase="Pending",
                     init_statuses=[status(state=terminated("Error", exit_code=1))]),
                 ["init-error", "0/1", "Init:Error", "0", "<unknown>"], id="init-terminated-reason"),
    pytest.param(pod("init-exit", init=[{}], phase="Pending", init_statuses=[status(state=terminated(exit_code=3))]),
                 ["init-exit", "0/1", "Init:ExitCode:3", "0", "<unknown>"], id="init-exit-code"),
    pytest.param(pod("init-signal", init=[{}], phase="Pending",
                     init_statuses=[status(state=terminated(exit_code=137, signal=9))]),
                 ["init-signal", "0/1", "Init:Signal:9", "0", "<unknown>"], id="init-signal"),
    pytest.param(pod("signal", phase="Running", statuses=[status(state=terminated(exit_code=137, signal=9))]),
                 ["signal", "0/1", "Signal:9", "0", "<unknown>"], id="container-signal"),
    pytest.param(pod("exit", phase="Running", statuses=[status(state=terminated(exit_code=2))]),
                 ["exit", "0/1", "ExitCode:2", "0", "<unknown>"], id="container-exit-code"),
    pytest.param(pod("restart-without-time", phase="Running",
                     statuses=[status(ready=True, restarts=2, state=running())]),
                 ["restart-without-time", "1/1", "Running", "2", "<unknown>"], id="restarts-without-last-termination"),
    # TestPrintPodWithRestartableInitContainer
    pytest.param(pod("test1", init=SIDECARS, phase="Pending",
                     init_statuses=[status(name="restartable-init-1", restarts=3, state=running(), started=False,
                                           finished=ago(seconds=10)),
                                    status(name="restartable-init-2", state=waiting(), started=False)],
                     statuses=[status(state=waiting())], conditions=[{"type": "Initialized", "status": "False"}]),
                 ["test1", "0/3", "Init:0/2", "3 (10s ago)", "<unknown>"], id="upstream-sidecar-not-started"),
    pytest.param(pod("test1", init=SIDECARS, phase="Pending",
                     init_statuses=[status(name="restartable-init-1", restarts=3, state=running(), started=True,
                                           finished=ago(seconds=10)),
                                    status(name="restartable-init-2", state=running(), started=False)],
                     statuses=[status(state=waiting())], conditions=[{"type": "Initialized", "status": "False"}]),
                 ["test1", "0/3", "Init:1/2", "3 (10s ago)", "<unknown>"], id="upstream-sidecar-first-started"),
    pytest.param(pod("test2", init=SIDECARS, phase="Running",
                     init_statuses=[status(name="restartable-init-1", restarts=3, state=running(), started=True,
                                           finished=ago(seconds=10)),
                                    status(name="restartable-init-2", state=running(), started=True)],
                     statuses=[status(ready=True, restarts=4, state=running(), finished=ago(seconds=20))],
                     conditions=[{"type": "Initialized", "status": "True"}]),
                 ["test2", "1/3", "Running", "7 (10s ago)", "<unknown>"], id="upstream-sidecars-started"),
    pytest.param(pod("test3", init=SIDECARS, phase="Succeeded",
                     init_statuses=[status(name="restartable-init-1", restarts=3, state=terminated("Error", 137),
                                           started=False, finished=ago(seconds=10)),
                                    status(name="restartable-init-2", state=terminated("Error", 137), started=False)],
                     statuses=[status(restarts=4, state=terminated("Completed"), finished=ago(seconds=20))],
                     conditions=[{"type": "Initialized", "status": "True"}]),
                 ["test3", "0/3", "Completed", "7 (10s ago)", "<unknown>"], id="upstream-sidecars-terminated"),
    pytest.param(pod("test4", init=[{"name": "init1", "image": "initimage"},
                                    {"name": "sidecar1", "image": "sidecarimage", "restartPolicy": "Always"}],
                     phase="Running", init_statuses=[{"name": "initinvalid"}, {"name": "init1"}, {"name": "sidecar1"}],
                     statuses=[{"name": "containerinvalid"}, {"name": "container1"}]),
                 ["test4", "0/2", "Init:0/2", "0", "<unknown>"], id="upstream-statuses-for-unknown-containers"),
    # TestPrintNonTerminatedPod
    pytest.param(pod("test2", containers=2, phase="Pending",
                     statuses=[status(ready=True, restarts=3, state=running()), status(restarts=3)]),
                 ["test2", "1/2", "Pending", "6", "<unknown>"], id="upstream-pending"),
    pytest.param(pod("test3", containers=2, phase="Unknown",
                     statuses=[status(ready=True, restarts=3, state=running()), status(restarts=3)]),
                 ["test3", "1/2", "Unknown", "6", "<unknown>"], id="upstream-unknown"),
])
def test_pod_cells(obj: Obj, expected: list[Any]) -> None:
    assert row_cells(group="", resource="pods", obj=obj, now=NOW) == [*expected, *NO_WIDE]


def test_pod_age_uses_creation_timestamp() -> None:
    obj = pod("aged", phase="Running")
    obj["metadata"]["creationTimestamp"] = ago(hours=3, minutes=5)
    assert row_cells(group="", resource="pods", obj=obj, now=NOW)[4] == "3h5m"


def with_status(obj: Obj, **fields: Any) -> Obj:
    obj["status"].update(fields)
    return obj


@pytest.mark.parametrize(("obj", "wide"), [
    pytest.param(with_status(pod("test1", containers=2, phase="podPhase", nodeName="test1",
                                 readinessGates=[{"conditionType": "condition1"}, {"conditionType": "condition2"},
                                                 {"conditionType": "condition3"}],
                                 conditions=[{"type": "condition1", "status": "False"},
                                             {"type": "condition2", "status": "True"}],
                                 statuses=[status(ready=True, restarts=3, state=running()), status(restarts=3)]),
                             podIPs=[{"ip": "1.1.1.1"}, {"ip": "2001:db8::"}], nominatedNodeName="node1"),
                 ["1.1.1.1", "test1", "node1", "1/3"], id="upstream-wide-ips-node-gates"),
    pytest.param(with_status(pod("legacy", phase="Running"), podIP="10.0.0.7"),
                 ["10.0.0.7", "<none>", "<none>", "<none>"], id="singular-pod-ip-when-no-pod-ips"),
])
def test_pod_wide_cells(obj: Obj, wide: list[str]) -> None:
    assert row_cells(group="", resource="pods", obj=obj, now=NOW)[5:] == wide


@pytest.mark.parametrize(("phase", "conditions"), [
    pytest.param("Running", None, id="running-no-conditions"),
    pytest.param("Succeeded", [{"type": "Completed", "status": "True", "reason": "Succeeded",
                                "message": "The pod has completed successfully."}], id="succeeded"),
    pytest.param("Failed", [{"type": "Completed", "status": "True", "reason": "Failed",
                             "message": "The pod failed."}], id="failed"),
])
def test_pod_row_conditions(phase: str, conditions: list[Obj] | None) -> None:
    table = to_table(group="", resource="pods", objects=[pod("p", phase=phase)], resource_version="1", now=NOW)
    assert table["rows"][0].get("conditions") == conditions


# --- services -----------------------------------------------------------------------------------


def service(name: str, service_type: str, *, ports: list[Obj] | None = None, cluster_ips: list[str] | None = None,
            external_ips: list[str] | None = None, ingress: list[Obj] | None = None, **spec: Any) -> Obj:
    body: Obj = {"type": service_type, "ports": ports or [], **spec}
    if cluster_ips is not None:
        body["clusterIPs"] = cluster_ips
    if external_ips is not None:
        body["externalIPs"] = external_ips
    return {"metadata": meta(name), "spec": body, "status": {"loadBalancer": {"ingress": ingress or []}}}


@pytest.mark.parametrize(("obj", "expected"), [
    pytest.param(service("test1", "ClusterIP", ports=[{"protocol": "tcp", "port": 2233}], cluster_ips=["10.9.8.7"],
                         selector={"foo": "bar"}),
                 ["test1", "ClusterIP", "10.9.8.7", "<none>", "2233/tcp", "<unknown>", "foo=bar"],
                 id="upstream-cluster-ip-with-selector"),
    pytest.param(service("test2", "NodePort", ports=[{"protocol": "tcp", "port": 8888, "nodePort": 9999}],
                         cluster_ips=["10.9.8.7"]),
                 ["test2", "NodePort", "10.9.8.7", "<none>", "8888:9999/tcp", "<unknown>", "<none>"],
                 id="upstream-node-port"),
    pytest.param(service("test3", "LoadBalancer", ports=[{"protocol": "tcp", "port": 8888}], cluster_ips=["10.9.8.7"]),
                 ["test3", "LoadBalancer", "10.9.8.7", "<pending>", "8888/tcp", "<unknown>", "<none>"],
                 id="upstream-load-balancer-pending"),
    pytest.param(service("test4", "LoadBalancer", ports=[{"protocol": "tcp", "port": 8888}], cluster_ips=["10.9.8.7"],
                         external_ips=["80.11.12.10"]),
                 ["test4", "LoadBalancer", "10.9.8.7", "80.11.12.10", "8888/tcp", "<unknown>", "<none>"],
                 id="upstream-load-balancer-external-ip-without-status"),
    pytest.param(service("test5", "LoadBalancer", ports=[{"protocol": "tcp", "port": 8888}], cluster_ips=["10.9.8.7"],
                         external_ips=["80.11.12.10"], ingress=[{"ip": "3.4.5.6", "hostname": "test.cluster.com"}]),
                 ["test5", "LoadBalancer", "10.9.8.7", "3.4.5.6,80.11.12.10", "8888/tcp", "<unknown>", "<none>"],
                 id="upstream-load-balancer-status-and-external-ip"),
    pytest.param(service("test6", "LoadBalancer", ports=[{"protocol": "tcp", "port": 8888}], cluster_ips=["10.9.8.7"],
                         external_ips=["80.11.12.10", "80.11.12.11"],
                         ingress=[{"ip": "2.3.4.5", "hostname": "test.cluster.local"},
                                  {"ip": "3.4.5.6", "hostname": "test.cluster.com"}]),
                 ["test6", "LoadBalancer", "10.9.8.7", "2.3.4.5,3.4.5.6,80.11.12.10,80.11.12.11", "8888/tcp",
                  "<unknown>", "<none>"], id="upstream-load-balancer-many-external-ips"),
    pytest.param(service("test7", "ExternalName", externalName="my.database.example.com"),
                 ["test7", "ExternalName", "<none>", "my.database.example.com", "<none>", "<unknown>", "<none>"],
                 id="upstream-external-name"),
    pytest.param(service("service2", "LoadBalancer",
                         ports=[{"port": 80, "protocol": "TCP"}, {"port": 8090, "protocol": "UDP"},
                                {"port": 8000, "protocol": "TCP"}, {"port": 7777, "protocol": "SCTP"}],
                         cluster_ips=["1.3.4.5"]),
                 ["service2", "LoadBalancer", "1.3.4.5", "<pending>", "80/TCP,8090/UDP,8000/TCP,7777/SCTP", "<unknown>",
                  "<none>"], id="upstream-load-balancer-many-ports"),
    pytest.param(service("service4", "LoadBalancer", ports=[{"port": 80, "protocol": "TCP"}], cluster_ips=["1.5.6.7"],
                         ingress=[{"ip": "3.4.5.6"}, {"ip": "2.3.4.5"}, {"ip": "5.6.7.8", "hostname": "host5678"}]),
                 ["service4", "LoadBalancer", "1.5.6.7", "2.3.4.5,3.4.5.6,5.6.7.8", "80/TCP", "<unknown>", "<none>"],
                 id="upstream-lb-ingress-sorted-and-never-clipped-server-side"),
    pytest.param(service("hostnames", "LoadBalancer", ports=[{"port": 80, "protocol": "TCP"}], cluster_ips=["1.5.6.7"],
                         ingress=[{"hostname": "b.example.com"}, {"hostname": "a.example.com"}]),
                 ["hostnames", "LoadBalancer", "1.5.6.7", "a.example.com,b.example.com", "80/TCP", "<unknown>",
                  "<none>"], id="lb-hostnames"),
    pytest.param(service("web", "NodePort", ports=[{"port": 80, "protocol": "TCP"},
                                                   {"port": 443, "nodePort": 30443, "protocol": "TCP"}],
                         clusterIP="10.43.0.10", external_ips=["192.0.2.1"]),
                 ["web", "NodePort", "10.43.0.10", "192.0.2.1", "80/TCP,443:30443/TCP", "<unknown>", "<none>"],
                 id="singular-cluster-ip-and-external-ips"),
    pytest.param(service("headless", "ClusterIP", ports=[{"port": 53}], cluster_ips=["None"]),
                 ["headless", "ClusterIP", "None", "<none>", "53/TCP", "<unknown>", "<none>"],
                 id="headless-and-default-protocol"),
    pytest.param({"metadata": meta("undefaulted"), "spec": {"clusterIP": "10.43.0.2", "ports": [{"port": 80}]}},
                 ["undefaulted", "ClusterIP", "10.43.0.2", "<none>", "80/TCP", "<unknown>", "<none>"],
                 id="type-defaults-to-cluster-ip"),
])
def test_service_cells(obj: Obj, expected: list[Any]) -> None:
    assert row_cells(group="", resource="services", obj=obj, now=NOW) == expected


# --- nodes --------------------------------------------------------------------------------------


def node(name: str, *, conditions: list[Obj] | None = None, unschedulable: bool = False,
         labels: dict[str, str] | None = None, info: Obj | None = None, addresses: list[Obj] | None = None) -> Obj:
    return {"metadata": meta(name, labels=labels or {}), "spec": {"unschedulable": unschedulable},
            "status": {"conditions": conditions or [], "nodeInfo": info or {}, "addresses": addresses or []}}


READY = {"type": "Ready", "status": "True"}
NOT_READY = {"type": "Ready", "status": "False"}
UNKNOWN_WIDE = ["<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"]


@pytest.mark.parametrize(("obj", "expected"), [
    pytest.param(node("foo1", conditions=[READY]), ["foo1", "Ready", "<none>", "<unknown>", ""], id="upstream-ready"),
    pytest.param(node("foo2", conditions=[READY], unschedulable=True),
                 ["foo2", "Ready,SchedulingDisabled", "<none>", "<unknown>", ""], id="upstream-cordoned"),
    pytest.param(node("foo3", conditions=[READY, READY]), ["foo3", "Ready", "<none>", "<unknown>", ""],
                 id="upstream-duplicate-ready"),
    pytest.param(node("foo4", conditions=[NOT_READY]), ["foo4", "NotReady", "<none>", "<unknown>", ""],
                 id="upstream-not-ready"),
    pytest.param(node("foo5", conditions=[NOT_READY], unschedulable=True),
                 ["foo5", "NotReady,SchedulingDisabled", "<none>", "<unknown>", ""], id="upstream-not-ready-cordoned"),
    pytest.param(node("foo6", conditions=[{"type": "InvalidValue", "status": "True"}]),
                 ["foo6", "Unknown", "<none>", "<unknown>", ""], id="upstream-other-condition"),
    pytest.param(node("foo7", conditions=[{}]), ["foo7", "Unknown", "<none>", "<unknown>", ""],
                 id="upstream-empty-condition"),
    pytest.param(node("foo9", conditions=[{}], unschedulable=True),
                 ["foo9", "Unknown,SchedulingDisabled", "<none>", "<unknown>", ""], id="upstream-unknown-cordoned"),
    pytest.param(node("foo10", labels={"node-role.kubernetes.io/master": "",
                                       "node-role.kubernetes.io/control-plane": "",
                                       "node-role.kubernetes.io/proxy": "", "kubernetes.io/role": "node"}),
                 ["foo10", "Unknown", "control-plane,master,node,proxy", "<unknown>", ""], id="upstream-roles"),
    pytest.param(node("foo11", labels={"kubernetes.io/role": "node"}), ["foo11", "Unknown", "node", "<unknown>", ""],
                 id="upstream-legacy-role-label"),
    pytest.param(node("empty-role", labels={"node-role.kubernetes.io/": "", "kubernetes.io/role": ""}),
                 ["empty-role", "Unknown", "<none>", "<unknown>", ""], id="empty-role-names-ignored"),
])
def test_node_cells(obj: Obj, expected: list[Any]) -> None:
    assert row_cells(group="", resource="nodes", obj=obj, now=NOW) == [*expected, *UNKNOWN_WIDE]


@pytest.mark.parametrize(("obj", "wide"), [
    pytest.param(node("foo1", info={"osImage": "fake-os-image"},
                      addresses=[{"type": "ExternalIP", "address": "1.1.1.1"}]),
                 ["<none>", "1.1.1.1", "fake-os-image", "<unknown>", "<unknown>"], id="upstream-os-image"),
    pytest.param(node("foo2", info={"kernelVersion": "fake-kernel-version"}),
                 ["<none>", "<none>", "<unknown>", "fake-kernel-version", "<unknown>"], id="upstream-kernel"),
    pytest.param(node("foo1", info={"containerRuntimeVersion": "foo://1.2.3"}),
                 ["<none>", "<none>", "<unknown>", "<unknown>", "foo://1.2.3"], id="upstream-runtime"),
    pytest.param(node("foo3", addresses=[{"type": "ExternalIP", "address": "2.2.2.2"},
                                         {"type": "InternalIP", "address": "3.3.3.3"},
                                         {"type": "ExternalIP", "address": "4.4.4.4"}]),
                 ["3.3.3.3", "2.2.2.2", "<unknown>", "<unknown>", "<unknown>"],
                 id="upstream-first-address-of-each-type"),
])
def test_node_wide_cells(obj: Obj, wide: list[str]) -> None:
    assert row_cells(group="", resource="nodes", obj=obj, now=NOW)[5:] == wide


def test_node_version_cell() -> None:
    obj = node("n1", conditions=[READY], info={"kubeletVersion": "v1.32.0+kubelite"})
    assert row_cells(group="", resource="nodes", obj=obj, now=NOW)[4] == "v1.32.0+kubelite"


# --- workloads ----------------------------------------------------------------------------------

TWO_CONTAINERS = {"spec": {"containers": [{"name": "fake-container1", "image": "fake-image1"},
                                          {"name": "fake-container2", "image": "fake-image2"}]}}


@pytest.mark.parametrize(("resource", "obj", "expected"), [
    pytest.param("deployments", {
        "metadata": meta("test1", creationTimestamp=ALMOST_NOW),
        "spec": {"replicas": 5, "template": TWO_CONTAINERS, "selector": {"matchLabels": {"foo": "bar"}}},
        "status": {"replicas": 10, "updatedReplicas": 2, "availableReplicas": 1, "unavailableReplicas": 4}},
        ["test1", "0/5", 2, 1, "0s", "fake-container1,fake-container2", "fake-image1,fake-image2", "foo=bar"],
        id="upstream-deployment"),
    pytest.param("deployments", {
        "metadata": meta("web", creationTimestamp=ago(days=1, hours=2)),
        "spec": {"replicas": 3, "template": TWO_CONTAINERS,
                 "selector": {"matchLabels": {"app": "web"},
                              "matchExpressions": [{"key": "tier", "operator": "In", "values": ["fe", "be"]},
                                                   {"key": "canary", "operator": "DoesNotExist"}]}},
        "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}},
        ["web", "2/3", 3, 2, "26h", "fake-container1,fake-container2", "fake-image1,fake-image2",
         "app=web,!canary,tier in (be,fe)"], id="deployment-selector-expressions-sorted-by-key"),
    pytest.param("deployments", {
        "metadata": meta("bad"), "spec": {"selector": {"matchExpressions": [{"key": "a", "operator": "Near"}]}}},
        ["bad", "0/1", 0, 0, "<unknown>", "", "", "<invalid>"], id="deployment-invalid-selector-default-replicas"),
    pytest.param("replicasets", {
        "metadata": meta("test1", creationTimestamp=ALMOST_NOW),
        "spec": {"replicas": 5, "template": TWO_CONTAINERS, "selector": {"matchLabels": {"foo": "bar"}}},
        "status": {"replicas": 5, "readyReplicas": 2}},
        ["test1", 5, 5, 2, "0s", "fake-container1,fake-container2", "fake-image1,fake-image2", "foo=bar"],
        id="upstream-replicaset"),
    pytest.param("replicasets", {
        "metadata": meta("replicaset2", creationTimestamp=ALMOST_NOW), "spec": {"replicas": 4, "template": {}},
        "status": {"replicas": 3, "readyReplicas": 1}},
        ["replicaset2", 4, 3, 1, "0s", "", "", "<none>"], id="upstream-replicaset-without-selector"),
    pytest.param("daemonsets", {
        "metadata": meta("test1", creationTimestamp=ALMOST_NOW),
        "spec": {"template": TWO_CONTAINERS, "selector": {"matchLabels": {"foo": "bar"}}},
        "status": {"currentNumberScheduled": 2, "desiredNumberScheduled": 3, "numberReady": 1,
                   "updatedNumberScheduled": 2, "numberAvailable": 0}},
        ["test1", 3, 2, 1, 2, 0, "<none>", "0s", "fake-container1,fake-container2", "fake-image1,fake-image2",
         "foo=bar"], id="upstream-daemonset"),
    pytest.param("daemonsets", {
        "metadata": meta("ds"),
        "spec": {"template": {"spec": {"nodeSelector": {"kubernetes.io/os": "linux", "disk": "ssd"}}}}},
        ["ds", 0, 0, 0, 0, 0, "disk=ssd,kubernetes.io/os=linux", "<unknown>", "", "", "<none>"],
        id="daemonset-node-selector"),
    pytest.param("statefulsets", {
        "metadata": meta("test1", creationTimestamp=ALMOST_NOW), "spec": {"replicas": 5, "template": TWO_CONTAINERS},
        "status": {"replicas": 5, "readyReplicas": 2}},
        ["test1", "2/5", "0s", "fake-container1,fake-container2", "fake-image1,fake-image2"],
        id="upstream-statefulset"),
    pytest.param("controllerrevisions", {
        "metadata": meta("test1", creationTimestamp=ALMOST_NOW, ownerReferences=[
            {"controller": True, "apiVersion": "apps/v1", "kind": "DaemonSet", "name": "foo"}]), "revision": 1},
        ["test1", "daemonset.apps/foo", 1, "0s"], id="upstream-revision-owned-by-daemonset"),
    pytest.param("controllerrevisions", {
        "metadata": meta("test2", creationTimestamp=ALMOST_NOW, ownerReferences=[
            {"controller": False, "kind": "ABC", "name": "foo"}]), "revision": 2},
        ["test2", "<none>", 2, "0s"], id="upstream-revision-without-controller"),
    pytest.param("controllerrevisions", {
        "metadata": meta("core", ownerReferences=[{"controller": True, "apiVersion": "v1", "kind": "Pod",
                                                   "name": "p"}]), "revision": 4},
        ["core", "pod/p", 4, "<unknown>"], id="revision-owned-by-core-kind"),
])
def test_apps_cells(resource: str, obj: Obj, expected: list[Any]) -> None:
    assert row_cells(group="apps", resource=resource, obj=obj, now=NOW) == expected


def job(name: str, *, completions: int | None = None, parallelism: int | None = None, succeeded: int = 0,
        start: str | None = None, completion: str | None = None, conditions: list[Obj] | None = None,
        created: str = ALMOST_NOW, deleted: bool = False) -> Obj:
    spec: Obj = {"template": {"spec": {"containers": []}}}
    if completions is not None:
        spec["completions"] = completions
    if parallelism is not None:
        spec["parallelism"] = parallelism
    job_status: Obj = {"succeeded": succeeded, "conditions": conditions or []}
    if start:
        job_status["startTime"] = start
    if completion:
        job_status["completionTime"] = completion
    metadata = meta(name, creationTimestamp=created)
    if deleted:
        metadata["deletionTimestamp"] = created
    return {"metadata": metadata, "spec": spec, "status": job_status}


@pytest.mark.parametrize(("obj", "expected"), [
    pytest.param(job("job1", completions=2, succeeded=1), ["job1", "Running", "1/2", "", "0s"], id="upstream-job1"),
    pytest.param(job("job2", created=ago(days=3653)), ["job2", "Running", "0/1", "", "10y"], id="upstream-job2-age"),
    pytest.param(job("job3", created=ago(days=3650), start=ahead(minutes=1), completion=ahead(minutes=31)),
                 ["job3", "Running", "0/1", "30m", "10y"], id="upstream-job3-finished-duration"),
    pytest.param(job("job4", created=ago(days=3650), start=ago(minutes=20)), ["job4", "Running", "0/1", "20m", "10y"],
                 id="upstream-job4-running-duration"),
    pytest.param(job("job5", conditions=[{"type": "Complete", "status": "True"}]),
                 ["job5", "Complete", "0/1", "", "0s"],
                 id="upstream-job5-complete"),
    pytest.param(job("job6", conditions=[{"type": "Failed", "status": "True"}]), ["job6", "Failed", "0/1", "", "0s"],
                 id="upstream-job6-failed"),
    pytest.param(job("job7", conditions=[{"type": "Suspended", "status": "True"}]),
                 ["job7", "Suspended", "0/1", "", "0s"], id="upstream-job7-suspended"),
    pytest.param(job("job8", conditions=[{"type": "FailureTarget", "status": "True"}]),
                 ["job8", "FailureTarget", "0/1", "", "0s"], id="upstream-job8-failure-target"),
    pytest.param(job("job9", deleted=True), ["job9", "Terminating", "0/1", "", "0s"], id="upstream-job9-terminating"),
    pytest.param(job("par", parallelism=3, succeeded=1), ["par", "Running", "1/1 of 3", "", "0s"],
                 id="work-queue-parallelism"),
    pytest.param(job("done", completions=3, succeeded=3, start=ago(minutes=5), completion=ago(minutes=2, seconds=57),
                     conditions=[{"type": "Suspended", "status": "False"}, {"type": "Complete", "status": "True"}]),
                 ["done", "Complete", "3/3", "2m3s", "0s"], id="complete-with-short-duration"),
    pytest.param(job("resumed", conditions=[{"type": "Suspended", "status": "False"}]),
                 ["resumed", "Running", "0/1", "", "0s"], id="suspended-false-is-running"),
])
def test_job_cells(obj: Obj, expected: list[Any]) -> None:
    assert row_cells(group="batch", resource="jobs", obj=obj, now=NOW)[:5] == expected


def test_job_wide_cells() -> None:
    obj = job("job1", completions=2, succeeded=1)
    obj["spec"]["template"] = {"spec": {"containers": [{"name": "fake-job-container1", "image": "fake-job-image1"},
                                                       {"name": "fake-job-container2", "image": "fake-job-image2"}]}}
    obj["spec"]["selector"] = {"matchLabels": {"job-label": "job-label-value"}}
    assert row_cells(group="batch", resource="jobs", obj=obj, now=NOW)[5:] == [
        "fake-job-container1,fake-job-container2", "fake-job-image1,fake-job-image2", "job-label=job-label-value"]


@pytest.mark.parametrize(("obj", "expected"), [
    pytest.param({"metadata": meta("hello", creationTimestamp=ago(hours=1)),
                  "spec": {"schedule": "*/1 * * * *", "suspend": False,
                           "jobTemplate": {"spec": {"template": {"spec": {"containers": [
                               {"name": "hello", "image": "busybox"}]}}}}},
                  "status": {"active": [{"name": "hello-1"}], "lastScheduleTime": ago(seconds=30)}},
                 ["hello", "*/1 * * * *", "<none>", "False", 1, "30s", "60m", "hello", "busybox", "<none>"],
                 id="cronjob-active"),
    pytest.param({"metadata": meta("tz"), "spec": {"schedule": "0 0 * * *", "timeZone": "Etc/UTC"}},
                 ["tz", "0 0 * * *", "Etc/UTC", "<unset>", 0, "<none>", "<unknown>", "", "", "<none>"],
                 id="cronjob-time-zone-never-scheduled"),
    pytest.param({"metadata": meta("empty-tz"), "spec": {"schedule": "@daily", "timeZone": "", "suspend": True}},
                 ["empty-tz", "@daily", "", "True", 0, "<none>", "<unknown>", "", "", "<none>"],
                 id="cronjob-empty-time-zone-pointer-printed-as-is"),
])
def test_cronjob_cells(obj: Obj, expected: list[Any]) -> None:
    assert row_cells(group="batch", resource="cronjobs", obj=obj, now=NOW) == expected


# --- events -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("obj", "expected"), [
    pytest.param({"metadata": meta("event1"), "source": {"component": "kubelet"},
                  "involvedObject": {"kind": "Pod", "name": "Pod Name", "fieldPath": "spec.containers{foo}"},
                  "reason": "Event Reason", "message": "Message Data", "firstTimestamp": ago(days=3),
                  "lastTimestamp": ago(days=2), "count": 6, "type": "Normal"},
                 ["2d", "Normal", "Event Reason", "pod/Pod Name", "spec.containers{foo}", "kubelet", "Message Data",
                  "3d", 6, "event1"], id="upstream-basic"),
    pytest.param({"metadata": meta("event3"), "source": {"component": "kubelet", "host": "Node1"},
                  "involvedObject": {"kind": "Deployment", "name": "Deployment Name",
                                     "fieldPath": "spec.containers{foo}"},
                  "reason": "Event Reason", "message": "Message Data", "eventTime": ago(days=3),
                  "lastTimestamp": ago(days=3), "count": 1, "type": "Warning"},
                 ["3d", "Warning", "Event Reason", "deployment/Deployment Name", "spec.containers{foo}",
                  "kubelet, Node1", "Message Data", "3d", 1, "event3"], id="upstream-no-first-timestamp"),
    pytest.param({"metadata": meta("event4"), "source": {"component": "kubelet", "host": "Node1"},
                  "involvedObject": {"kind": "Deployment", "name": "Deployment Name",
                                     "fieldPath": "spec.containers{foo}"},
                  "reason": "Event Reason", "message": "Message Data", "eventTime": ago(days=3),
                  "firstTimestamp": ago(days=3), "count": 1, "type": "Warning"},
                 ["3d", "Warning", "Event Reason", "deployment/Deployment Name", "spec.containers{foo}",
                  "kubelet, Node1", "Message Data", "3d", 1, "event4"], id="upstream-no-last-timestamp"),
    pytest.param({"metadata": meta("event6"), "source": {"component": "kubelet", "host": "Node1"},
                  "involvedObject": {"kind": "Deployment", "name": "Deployment Name",
                                     "fieldPath": "spec.containers{foo}"},
                  "series": {"count": 2, "lastObservedTime": ago(days=2)}, "reason": "Event Reason",
                  "message": "Message Data", "eventTime": ago(days=3), "type": "Warning"},
                 ["2d", "Warning", "Event Reason", "deployment/Deployment Name", "spec.containers{foo}",
                  "kubelet, Node1", "Message Data", "3d", 2, "event6"], id="upstream-series"),
    pytest.param({"metadata": meta("event7"), "source": {"component": "kubelet", "host": "Node1"},
                  "involvedObject": {"kind": "Deployment", "name": "Deployment Name",
                                     "fieldPath": "spec.containers{foo}"},
                  "reason": "Event Reason", "message": "Message Data", "eventTime": ago(days=3), "type": "Warning"},
                 ["3d", "Warning", "Event Reason", "deployment/Deployment Name", "spec.containers{foo}",
                  "kubelet, Node1", "Message Data", "3d", 1, "event7"], id="upstream-singleton-count-one"),
    pytest.param({"metadata": meta("event2"), "reportingComponent": "kubelet", "reportingInstance": "test",
                  "involvedObject": {"kind": "Deployment", "name": "Deployment Name",
                                     "fieldPath": "spec.containers{foo}"},
                  "reason": "Event Reason", "message": "Message Data", "firstTimestamp": ago(days=3),
                  "lastTimestamp": ago(days=2), "count": 6, "type": "Warning"},
                 ["2d", "Warning", "Event Reason", "deployment/Deployment Name", "spec.containers{foo}",
                  "kubelet, test", "Message Data", "3d", 6, "event2"], id="upstream-reporting-controller-as-source"),
    pytest.param({"metadata": meta("cluster"), "involvedObject": {"kind": "Node"}, "reason": "Starting",
                  "message": "  padded\n", "eventTime": ago(seconds=5), "type": "Normal"},
                 ["5s", "Normal", "Starting", "node", "", "", "padded", "5s", 1, "cluster"],
                 id="unnamed-object-and-trimmed-message"),
])
def test_core_event_cells(obj: Obj, expected: list[Any]) -> None:
    assert row_cells(group="", resource="events", obj=obj, now=NOW) == expected


def test_events_k8s_io_event_prints_like_core() -> None:
    obj = {"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": meta("e1"),
           "regarding": {"kind": "Pod", "name": "web-0", "fieldPath": "spec.containers{web}"},
           "reason": "Pulled", "note": "Container image pulled", "type": "Normal", "eventTime": ago(minutes=4),
           "series": {"count": 3, "lastObservedTime": ago(seconds=40)}, "reportingController": "kubelet",
           "reportingInstance": "node-1", "action": "Pulling"}
    assert row_cells(group="events.k8s.io", resource="events", obj=obj, now=NOW) == [
        "40s", "Normal", "Pulled", "pod/web-0", "spec.containers{web}", "kubelet, node-1", "Container image pulled",
        "4m", 3, "e1"]


# --- everything else with a printer -------------------------------------------------------------


@pytest.mark.parametrize(("group", "resource", "obj", "expected"), [
    pytest.param("", "namespaces", {"metadata": meta("namespace1", creationTimestamp=ALMOST_NOW),
                                    "status": {"phase": "FooStatus"}},
                 ["namespace1", "FooStatus", "0s"], id="upstream-namespace"),
    pytest.param("", "namespaces", {"metadata": meta("namespace2")}, ["namespace2", "", "<unknown>"],
                 id="upstream-namespace-without-status"),
    pytest.param("", "secrets", {"metadata": meta("secret1", creationTimestamp=ALMOST_NOW),
                                 "type": "kubernetes.io/service-account-token", "data": {"token": "c2VjcmV0"}},
                 ["secret1", "kubernetes.io/service-account-token", 1, "0s"], id="upstream-secret"),
    pytest.param("", "secrets", {"metadata": meta("secret1", creationTimestamp=ALMOST_NOW), "type": "Opaque"},
                 ["secret1", "Opaque", 0, "0s"], id="upstream-secret-without-data"),
    pytest.param("", "serviceaccounts", {"metadata": meta("sa1", creationTimestamp=ALMOST_NOW),
                                         "secrets": [{"name": "Secret1"}, {"name": "Secret2"}]},
                 ["sa1", 2, "0s"], id="upstream-serviceaccount"),
    pytest.param("", "configmaps", {"metadata": meta("configmap3", creationTimestamp=ALMOST_NOW),
                                    "data": {"foo": "bar"}, "binaryData": {"bin": "YmluYXJ5"}},
                 ["configmap3", 2, "0s"], id="upstream-configmap-data-and-binary"),
    pytest.param("", "configmaps", {"metadata": meta("configmap1", creationTimestamp=ALMOST_NOW)},
                 ["configmap1", 0, "0s"], id="upstream-configmap-empty"),
    pytest.param("", "endpoints", {"metadata": meta("svc"), "subsets": [
        {"addresses": [{"ip": "10.1.0.1"}, {"ip": "10.1.0.2"}], "ports": [{"port": 80}, {"port": 443}]}]},
                 ["svc", "10.1.0.1:80,10.1.0.2:80,10.1.0.1:443 + 1 more...", "<unknown>"], id="endpoints-more"),
    pytest.param("", "endpoints", {"metadata": meta("v6"), "subsets": [
        {"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 8080}]}, {"addresses": [{"ip": "10.0.0.9"}]}]},
                 ["v6", "[fd00::1]:8080,10.0.0.9", "<unknown>"], id="endpoints-ipv6-and-headless-subset"),
    pytest.param("", "endpoints", {"metadata": meta("none")}, ["none", "<none>", "<unknown>"], id="endpoints-none"),
    pytest.param("", "persistentvolumes", {
        "metadata": meta("pv1", annotations={"volume.beta.kubernetes.io/storage-class": "beta"}),
        "spec": {"capacity": {"storage": "1.5Gi"}, "accessModes": ["ReadWriteMany", "ReadWriteOnce", "ReadWriteOnce"],
                 "persistentVolumeReclaimPolicy": "Retain", "claimRef": {"namespace": "default", "name": "test"},
                 "storageClassName": "my-scn", "volumeMode": "Filesystem"},
        "status": {"phase": "Bound"}},
                 ["pv1", "1536Mi", "RWO,RWX", "Retain", "Bound", "default/test", "beta", "<unset>", "", "<unknown>",
                  "Filesystem"], id="pv-bound-canonical-quantity-beta-class"),
    pytest.param("", "persistentvolumes", {
        "metadata": meta("pv2", deletionTimestamp=ago(seconds=1)),
        "spec": {"storageClassName": "my-scn", "volumeAttributesClassName": "my-vacn"},
        "status": {"phase": "Failed", "reason": "Recycler failed"}},
                 ["pv2", "0", "", "", "Terminating", "", "my-scn", "my-vacn", "Recycler failed", "<unknown>",
                  "<unset>"],
                 id="pv-terminating-without-capacity"),
    pytest.param("", "persistentvolumeclaims", {
        "metadata": meta("data"), "spec": {"volumeName": "pv1", "storageClassName": "local-path",
                                           "resources": {"requests": {"storage": "1Gi"}}},
        "status": {"phase": "Bound", "capacity": {"storage": "2Gi"}, "accessModes": ["ReadWriteOncePod"]}},
                 ["data", "Bound", "pv1", "2Gi", "RWOP", "local-path", "<unset>", "<unknown>", "<unset>"],
                 id="pvc-bound"),
    pytest.param("", "persistentvolumeclaims", {
        "metadata": meta("pending"), "spec": {"resources": {"requests": {"storage": "1Gi"}}, "volumeMode": "Block"},
        "status": {"phase": "Pending"}},
                 ["pending", "Pending", "", "", "", "", "<unset>", "<unknown>", "Block"], id="pvc-pending"),
    pytest.param("", "resourcequotas", {
        "metadata": meta("quota"),
        "status": {"hard": {"pods": "10", "limits.memory": "2Gi", "requests.cpu": "1", "limits.cpu": "2000m"},
                   "used": {"pods": "3", "requests.cpu": "500m", "limits.cpu": "1"}}},
                 ["quota", "pods: 3/10, requests.cpu: 500m/1", "limits.cpu: 1/2, limits.memory: 0/2Gi", "<unknown>"],
                 id="resource-quota"),
    pytest.param("", "replicationcontrollers", {
        "metadata": meta("rc1"), "spec": {"replicas": 5, "selector": {"a": "b"}, "template": {
            "metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "test", "image": "test_image"}]}}},
        "status": {"replicas": 3, "readyReplicas": 1}},
                 ["rc1", 5, 3, 1, "<unknown>", "test", "test_image", "a=b"], id="upstream-replication-controller"),
    pytest.param("", "podtemplates", {"metadata": meta("pod-template-2"), "template": {
        "metadata": {"labels": {"foo": "bar"}}, "spec": {"containers": [
            {"name": "fake-container1", "image": "fake-image1"},
            {"name": "fake-container2", "image": "fake-image2"}]}}},
                 ["pod-template-2", "fake-container1,fake-container2", "fake-image1,fake-image2", "foo=bar"],
                 id="upstream-pod-template"),
    pytest.param("policy", "poddisruptionbudgets", {
        "metadata": meta("pdb1", creationTimestamp=ALMOST_NOW), "spec": {"minAvailable": 22},
        "status": {"disruptionsAllowed": 5}}, ["pdb1", "22", "N/A", 5, "0s"], id="upstream-pdb-min-available"),
    pytest.param("policy", "poddisruptionbudgets", {
        "metadata": meta("pdb2", creationTimestamp=ALMOST_NOW), "spec": {"maxUnavailable": "10%"},
        "status": {"disruptionsAllowed": 5}}, ["pdb2", "N/A", "10%", 5, "0s"], id="pdb-max-unavailable-percent"),
    pytest.param("networking.k8s.io", "networkpolicies", {
        "metadata": meta("policy1", creationTimestamp=ALMOST_NOW), "spec": {}},
                 ["policy1", "<none>", "0s"], id="upstream-network-policy-empty"),
    pytest.param("networking.k8s.io", "networkpolicies", {
        "metadata": meta("policy2", creationTimestamp=ALMOST_NOW),
        "spec": {"podSelector": {"matchLabels": {"foo": "bar"}}}}, ["policy2", "foo=bar", "0s"],
                 id="upstream-network-policy-selector"),
    pytest.param("networking.k8s.io", "ingresses", {
        "metadata": meta("test1", creationTimestamp=ago(days=3650)),
        "spec": {"ingressClassName": "foo", "defaultBackend": {"service": {"name": "default-backend"}}},
        "status": {"loadBalancer": {"ingress": [{"ip": "2.3.4.5", "hostname": "localhost.localdomain"}]}}},
                 ["test1", "foo", "*", "2.3.4.5", "80", "10y"], id="upstream-ingress"),
    pytest.param("networking.k8s.io", "ingresses", {
        "metadata": meta("hosts"), "spec": {"rules": [{"host": "a"}, {}, {"host": "b"}, {"host": "c"}, {"host": "d"}],
                                            "tls": [{"hosts": ["a"]}]}},
                 ["hosts", "<none>", "a,b,c + 2 more...", "", "80, 443", "<unknown>"], id="ingress-hosts-and-tls"),
    pytest.param("networking.k8s.io", "ingressclasses", {
        "metadata": meta("test1", creationTimestamp=ago(days=3650)),
        "spec": {"controller": "example.com/controller",
                 "parameters": {"apiGroup": "example.com", "kind": "customgroup", "name": "example"}}},
                 ["test1", "example.com/controller", "customgroup.example.com/example", "10y"],
                 id="upstream-ingress-class-with-group"),
    pytest.param("networking.k8s.io", "ingressclasses", {
        "metadata": meta("test2", creationTimestamp=ago(days=11 * 365)), "spec": {"controller": "example.com/c2"}},
                 ["test2", "example.com/c2", "<none>", "11y"], id="upstream-ingress-class-without-params"),
    pytest.param("rbac.authorization.k8s.io", "rolebindings", {
        "metadata": meta("binding2", creationTimestamp=ALMOST_NOW),
        "subjects": [{"kind": "User", "name": "user-name"}, {"kind": "Group", "name": "group-name"},
                     {"kind": "ServiceAccount", "name": "service-account-name",
                      "namespace": "service-account-namespace"}],
        "roleRef": {"kind": "Role", "name": "role-name"}},
                 ["binding2", "Role/role-name", "0s", "user-name", "group-name",
                  "service-account-namespace/service-account-name"], id="upstream-role-binding"),
    pytest.param("rbac.authorization.k8s.io", "clusterrolebindings", {
        "metadata": meta("binding1", creationTimestamp=ALMOST_NOW),
        "subjects": [{"kind": "User", "name": "u1"}, {"kind": "User", "name": "u2"}],
        "roleRef": {"kind": "ClusterRole", "name": "view"}},
                 ["binding1", "ClusterRole/view", "0s", "u1, u2", "", ""], id="cluster-role-binding"),
    pytest.param("certificates.k8s.io", "certificatesigningrequests", {
        "metadata": meta("csr1", creationTimestamp=ALMOST_NOW), "spec": {}, "status": {}},
                 ["csr1", "0s", "<none>", "", "<none>", "Pending"], id="upstream-csr-pending"),
    pytest.param("certificates.k8s.io", "certificatesigningrequests", {
        "metadata": meta("csr2", creationTimestamp=ALMOST_NOW),
        "spec": {"username": "CSR Requestor", "signerName": "example.com/test-signer",
                 "expirationSeconds": 7 * 24 * 3600 + 3600},
        "status": {"conditions": [{"type": "Approved"}], "certificate": "Y2VydA=="}},
                 ["csr2", "0s", "example.com/test-signer", "CSR Requestor", "7d1h", "Approved,Issued"],
                 id="upstream-csr-approved-issued-with-duration"),
    pytest.param("certificates.k8s.io", "certificatesigningrequests", {
        "metadata": meta("csr3", creationTimestamp=ALMOST_NOW), "spec": {"username": "CSR Requestor"},
        "status": {"conditions": [{"type": "Approved"}, {"type": "Denied"}, {"type": "Failed"}]}},
                 ["csr3", "0s", "<none>", "CSR Requestor", "<none>", "Denied,Failed"], id="csr-denied-wins"),
    pytest.param("coordination.k8s.io", "leases", {
        "metadata": meta("kube-scheduler", creationTimestamp=ago(minutes=15)),
        "spec": {"holderIdentity": "server-1_abc"}}, ["kube-scheduler", "server-1_abc", "15m"], id="lease"),
    pytest.param("coordination.k8s.io", "leases", {"metadata": meta("free"), "spec": {}},
                 ["free", "", "<unknown>"], id="lease-without-holder"),
    pytest.param("storage.k8s.io", "storageclasses", {
        "metadata": meta("local-path", annotations={"storageclass.kubernetes.io/is-default-class": "true"}),
        "provisioner": "rancher.io/local-path", "volumeBindingMode": "WaitForFirstConsumer"},
                 ["local-path (default)", "rancher.io/local-path", "Delete", "WaitForFirstConsumer", False,
                  "<unknown>"], id="storage-class-default"),
    pytest.param("storage.k8s.io", "storageclasses", {
        "metadata": meta("fast"), "provisioner": "csi.example.com", "reclaimPolicy": "Retain",
        "allowVolumeExpansion": True}, ["fast", "csi.example.com", "Retain", "Immediate", True, "<unknown>"],
                 id="storage-class-retain-expansion"),
    pytest.param("scheduling.k8s.io", "priorityclasses", {
        "metadata": meta("system-node-critical", creationTimestamp=ago(days=1)), "value": 2000001000,
        "preemptionPolicy": "PreemptLowerPriority"},
                 ["system-node-critical", 2000001000, False, "24h", "PreemptLowerPriority"], id="priority-class"),
    pytest.param("scheduling.k8s.io", "priorityclasses", {
        "metadata": meta("default"), "value": 10, "globalDefault": True}, ["default", 10, True, "<unknown>", ""],
                 id="priority-class-global-default"),
    pytest.param("discovery.k8s.io", "endpointslices", {
        "metadata": meta("web-abc"), "addressType": "IPv4",
        "ports": [{"port": 80, "name": "http"}, {"name": "metrics"}, {}, {"port": 9090}],
        "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2", "10.0.0.3", "10.0.0.4"]}]},
                 ["web-abc", "IPv4", "80,metrics,* + 1 more...", "10.0.0.1,10.0.0.2,10.0.0.3 + 1 more...",
                  "<unknown>"], id="endpoint-slice-more"),
    pytest.param("discovery.k8s.io", "endpointslices", {"metadata": meta("empty"), "addressType": "IPv6"},
                 ["empty", "IPv6", "<unset>", "<unset>", "<unknown>"], id="endpoint-slice-empty"),
    pytest.param("node.k8s.io", "runtimeclasses", {"metadata": meta("gvisor"), "handler": "runsc"},
                 ["gvisor", "runsc", "<unknown>"], id="runtime-class"),
    pytest.param("admissionregistration.k8s.io", "validatingwebhookconfigurations", {
        "metadata": meta("hooks"), "webhooks": [{"name": "a.example.com"}, {"name": "b.example.com"}]},
                 ["hooks", 2, "<unknown>"], id="validating-webhooks"),
])
def test_other_printer_cells(group: str, resource: str, obj: Obj, expected: list[Any]) -> None:
    assert row_cells(group=group, resource=resource, obj=obj, now=NOW) == expected


def hpa(metrics: list[Obj], current: list[Obj] | None = None, min_replicas: int | None = 2) -> Obj:
    spec: Obj = {"scaleTargetRef": {"kind": "ReplicationController", "name": "some-rc"}, "maxReplicas": 10,
                 "metrics": metrics}
    if min_replicas is not None:
        spec["minReplicas"] = min_replicas
    return {"apiVersion": "autoscaling/v2", "metadata": meta("some-hpa"), "spec": spec,
            "status": {"currentReplicas": 4, "desiredReplicas": 5, "currentMetrics": current or []}}


@pytest.mark.parametrize(("obj", "targets", "min_pods"), [
    pytest.param(hpa([], min_replicas=None), "<none>", "<unset>", id="upstream-no-metrics-min-unset"),
    pytest.param(hpa([{"type": "External", "external": {"metric": {"name": "m"},
                                                        "target": {"type": "AverageValue", "averageValue": "100m"}}}]),
                 "<unknown>/100m (avg)", "2", id="upstream-external-average-no-current"),
    pytest.param(hpa([{"type": "External", "external": {"metric": {"name": "m"},
                                                        "target": {"type": "AverageValue", "averageValue": "100m"}}}],
                     [{"type": "External", "external": {"metric": {"name": "m"}, "current": {"averageValue": "50m"}}}]),
                 "50m/100m (avg)", "2", id="upstream-external-average"),
    pytest.param(hpa([{"type": "External", "external": {"metric": {"name": "m"},
                                                        "target": {"type": "Value", "value": "100m"}}}],
                     [{"type": "External", "external": {"metric": {"name": "m"}, "current": {"value": "50m"}}}]),
                 "50m/100m", "2", id="upstream-external-value"),
    pytest.param(hpa([{"type": "Pods", "pods": {"metric": {"name": "p"},
                                                "target": {"type": "AverageValue", "averageValue": "100m"}}}]),
                 "<unknown>/100m", "2", id="upstream-pods-no-current"),
    pytest.param(hpa([{"type": "Object", "object": {"describedObject": {"kind": "Service", "name": "s"},
                                                    "metric": {"name": "m"},
                                                    "target": {"type": "Value", "value": "100m"}}}],
                     [{"type": "Object", "object": {"metric": {"name": "m"}, "current": {"value": "50m"}}}]),
                 "50m/100m", "2", id="upstream-object-value"),
    pytest.param(hpa([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "AverageValue",
                                                                                   "averageValue": "100m"}}}],
                     [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageValue": "50m"}}}]),
                 "cpu: 50m/100m", "2", id="upstream-resource-average-value"),
    pytest.param(hpa([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization",
                                                                                   "averageUtilization": 80}}}]),
                 "cpu: <unknown>/80%", "2", id="upstream-resource-utilization-no-current"),
    pytest.param(hpa([{"type": "ContainerResource", "containerResource": {
        "name": "cpu", "container": "application", "target": {"type": "Utilization", "averageUtilization": 80}}}],
        [{"type": "ContainerResource", "containerResource": {
            "name": "cpu", "container": "application", "current": {"averageUtilization": 50, "averageValue": "40m"}}}]),
                 "cpu: 50%/80%", "2", id="upstream-container-resource-utilization"),
    pytest.param(hpa([{"type": "Pods", "pods": {"metric": {"name": "a"}, "target": {"averageValue": "100m"}}},
                      {"type": "Resource", "resource": {"name": "cpu", "target": {"averageUtilization": 80}}},
                      {"type": "Pods", "pods": {"metric": {"name": "b"}, "target": {"averageValue": "400m"}}}],
                     [{"type": "Pods", "pods": {"metric": {"name": "a"}, "current": {"averageValue": "50m"}}},
                      {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 50,
                                                                                  "averageValue": "40m"}}}]),
                 "50m/100m, cpu: 50%/80% + 1 more...", "2", id="upstream-multiple-specs"),
    pytest.param({"apiVersion": "autoscaling/v1", "metadata": meta("v1-hpa"),
                  "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "minReplicas": 1, "maxReplicas": 5,
                           "targetCPUUtilizationPercentage": 70},
                  "status": {"currentReplicas": 4, "currentCPUUtilizationPercentage": 35}},
                 "cpu: 35%/70%", "1", id="autoscaling-v1-shape"),
])
def test_hpa_targets(obj: Obj, targets: str, min_pods: str) -> None:
    cells = row_cells(group="autoscaling", resource="horizontalpodautoscalers", obj=obj, now=NOW)
    assert cells[2:4] == [targets, min_pods]
    assert cells[4:6] == [obj["spec"]["maxReplicas"], 4]


# --- default convertor --------------------------------------------------------------------------


@pytest.mark.parametrize(("group", "resource"), [
    pytest.param("rbac.authorization.k8s.io", "roles", id="roles"),
    pytest.param("rbac.authorization.k8s.io", "clusterroles", id="clusterroles"),
    pytest.param("", "limitranges", id="limitranges"),
    pytest.param("apiextensions.k8s.io", "customresourcedefinitions", id="crds"),
    pytest.param("example.com", "widgets", id="unknown"),
])
def test_default_convertor(group: str, resource: str) -> None:
    columns = column_definitions(group=group, resource=resource)
    assert [(c["name"], c["type"], c["format"]) for c in columns] == [("Name", "string", "name"),
                                                                      ("Created At", "date", "")]
    obj = {"metadata": {"name": "admin", "creationTimestamp": "2024-04-30T10:00:00+02:00"}}
    assert row_cells(group=group, resource=resource, obj=obj, now=NOW) == ["admin", "2024-04-30T08:00:00Z"]
    assert row_cells(group=group, resource=resource, obj={"metadata": {"name": "x"}}, now=NOW) == [
        "x", "0001-01-01T00:00:00Z"]


# --- columns ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("group", "resource", "names"), [
    pytest.param("", "pods", ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "*IP", "*NODE", "*NOMINATED NODE",
                              "*READINESS GATES"], id="pods"),
    pytest.param("", "services", ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE", "*SELECTOR"],
                 id="services"),
    pytest.param("", "nodes", ["NAME", "STATUS", "ROLES", "AGE", "VERSION", "*INTERNAL-IP", "*EXTERNAL-IP",
                               "*OS-IMAGE", "*KERNEL-VERSION", "*CONTAINER-RUNTIME"], id="nodes"),
    pytest.param("", "events", ["LAST SEEN", "TYPE", "REASON", "OBJECT", "*SUBOBJECT", "*SOURCE", "MESSAGE",
                                "*FIRST SEEN", "*COUNT", "*NAME"], id="events"),
    pytest.param("apps", "deployments", ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "*CONTAINERS", "*IMAGES",
                                         "*SELECTOR"], id="deployments"),
    pytest.param("batch", "jobs", ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE", "*CONTAINERS", "*IMAGES",
                                   "*SELECTOR"], id="jobs"),
    pytest.param("batch", "cronjobs", ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST SCHEDULE", "AGE",
                                       "*CONTAINERS", "*IMAGES", "*SELECTOR"], id="cronjobs"),
    pytest.param("", "persistentvolumes", ["NAME", "CAPACITY", "ACCESS MODES", "RECLAIM POLICY", "STATUS", "CLAIM",
                                           "STORAGECLASS", "VOLUMEATTRIBUTESCLASS", "REASON", "AGE", "*VOLUMEMODE"],
                 id="persistentvolumes"),
])
def test_column_headers_as_kubectl_prints_them(group: str, resource: str, names: list[str]) -> None:
    # kubectl upper-cases the names; "*" marks a column shown only with -o wide (priority 1).
    columns = column_definitions(group=group, resource=resource)
    assert [("*" if c["priority"] else "") + c["name"].upper() for c in columns] == names


def test_column_definition_fields() -> None:
    name, ready, *_ = column_definitions(group="", resource="pods")
    assert name["format"] == "name" and name["description"].startswith("Name must be unique within a namespace.")
    assert ready == {"name": "Ready", "type": "string", "format": "",
                     "description": "The aggregate readiness state of this pod for accepting traffic.",
                     "priority": 0}


def test_column_definitions_are_fresh_copies() -> None:
    column_definitions(group="", resource="pods")[0]["name"] = "changed"
    assert column_definitions(group="", resource="pods")[0]["name"] == "Name"


PRINTED_RESOURCES = [
    ("", "pods"), ("", "services"), ("", "endpoints"), ("", "nodes"), ("", "namespaces"), ("", "configmaps"),
    ("", "secrets"), ("", "serviceaccounts"), ("", "events"), ("", "resourcequotas"), ("", "persistentvolumes"),
    ("", "persistentvolumeclaims"), ("", "replicationcontrollers"), ("", "podtemplates"), ("apps", "deployments"),
    ("apps", "replicasets"), ("apps", "daemonsets"), ("apps", "statefulsets"), ("apps", "controllerrevisions"),
    ("batch", "jobs"), ("batch", "cronjobs"), ("discovery.k8s.io", "endpointslices"), ("coordination.k8s.io", "leases"),
    ("rbac.authorization.k8s.io", "rolebindings"), ("rbac.authorization.k8s.io", "clusterrolebindings"),
    ("scheduling.k8s.io", "priorityclasses"), ("policy", "poddisruptionbudgets"),
    ("certificates.k8s.io", "certificatesigningrequests"), ("networking.k8s.io", "networkpolicies"),
    ("networking.k8s.io", "ingresses"), ("networking.k8s.io", "ingressclasses"),
    ("autoscaling", "horizontalpodautoscalers"), ("storage.k8s.io", "storageclasses"), ("events.k8s.io", "events"),
    ("node.k8s.io", "runtimeclasses"), ("admissionregistration.k8s.io", "mutatingwebhookconfigurations"),
    ("admissionregistration.k8s.io", "validatingwebhookconfigurations"),
]


@pytest.mark.parametrize(("group", "resource"), [pytest.param(g, r, id=f"{r}.{g}" if g else r)
                                                 for g, r in PRINTED_RESOURCES])
def test_every_printer_has_its_own_columns_and_one_cell_per_column(group: str, resource: str) -> None:
    columns = column_definitions(group=group, resource=resource)
    assert [c["name"] for c in columns] != ["Name", "Created At"]
    # A description that reads like "PodSpec.nodeName" is a SwaggerDoc key that was never resolved.
    assert not [c["description"] for c in columns if re.fullmatch(r"[A-Z]\w+\.\w+", c["description"])]
    # Empty and null-riddled objects must print too: stored objects may omit any optional field.
    for obj in ({}, {"metadata": None, "spec": None, "status": None}):
        assert len(row_cells(group=group, resource=resource, obj=obj, now=NOW)) == len(columns)


# --- durations ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("delta", "expected"), [
    pytest.param(timedelta(seconds=-2.1), "<invalid>", id="upstream-a-while-from-now"),
    pytest.param(timedelta(seconds=-1.9), "0s", id="upstream-almost-now"),
    pytest.param(timedelta(0), "0s", id="upstream-now"),
    pytest.param(timedelta(seconds=30), "30s", id="upstream-30-seconds"),
    pytest.param(timedelta(seconds=119), "119s", id="seconds-below-two-minutes"),
    pytest.param(timedelta(seconds=120), "2m", id="two-minutes"),
    pytest.param(timedelta(minutes=2, seconds=3), "2m3s", id="minutes-and-seconds-below-ten-minutes"),
    pytest.param(timedelta(minutes=5), "5m", id="upstream-5-minutes"),
    pytest.param(timedelta(minutes=9, seconds=59), "9m59s", id="just-below-ten-minutes"),
    pytest.param(timedelta(minutes=10, seconds=59), "10m", id="ten-minutes-drops-seconds"),
    pytest.param(timedelta(minutes=100), "100m", id="upstream-an-hour-ago"),
    pytest.param(timedelta(hours=3), "3h", id="three-hours"),
    pytest.param(timedelta(hours=5, minutes=10), "5h10m", id="hours-and-minutes-below-eight-hours"),
    pytest.param(timedelta(hours=8, minutes=10), "8h", id="eight-hours-drops-minutes"),
    pytest.param(timedelta(hours=47, minutes=59), "47h", id="below-two-days"),
    pytest.param(timedelta(days=2), "2d", id="upstream-2-days"),
    pytest.param(timedelta(days=3, hours=4), "3d4h", id="days-and-hours-below-eight-days"),
    pytest.param(timedelta(days=90), "90d", id="upstream-months"),
    pytest.param(timedelta(days=729), "729d", id="below-two-years"),
    pytest.param(timedelta(days=365 * 3 + 5), "3y5d", id="years-and-days-below-eight-years"),
    pytest.param(timedelta(days=3650), "10y", id="upstream-10-years"),
])
def test_human_duration(delta: timedelta, expected: str) -> None:
    assert human_duration(delta) == expected


@pytest.mark.parametrize(("value", "expected"), [
    pytest.param(None, "<unknown>", id="missing"),
    pytest.param("", "<unknown>", id="empty"),
    pytest.param("0001-01-01T00:00:00Z", "<unknown>", id="go-zero-time"),
    pytest.param("not a time", "<unknown>", id="unparseable-reads-as-zero"),
    pytest.param(ahead(seconds=2.1), "<invalid>", id="future"),
    pytest.param("2024-05-01T13:59:30+02:00", "30s", id="offset"),
    pytest.param("2024-05-01T11:59:29.999999Z", "30s", id="micro-time"),
])
def test_translate_timestamp_since(value: Any, expected: str) -> None:
    assert translate_timestamp_since(value, now=NOW) == expected


def test_naive_now_is_utc() -> None:
    assert translate_timestamp_since(ago(minutes=3), now=NOW.replace(tzinfo=None)) == "3m"


# --- to_table -----------------------------------------------------------------------------------


def sample_pod(name: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}", "resourceVersion": "7",
                         "creationTimestamp": ago(minutes=1), "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]},
            "status": {"phase": "Running", "containerStatuses": [status(ready=True, state=running())]}}


def test_table_structure_default_includes_partial_object_metadata() -> None:
    table = to_table(group="", resource="pods", objects=[sample_pod("a"), sample_pod("b")], resource_version="42",
                     continue_token="next", remaining=3, now=NOW)
    assert list(table) == ["kind", "apiVersion", "metadata", "columnDefinitions", "rows"]
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    assert table["metadata"] == {"resourceVersion": "42", "continue": "next", "remainingItemCount": 3}
    assert table["columnDefinitions"] == column_definitions(group="", resource="pods")
    assert [row["cells"][:5] for row in table["rows"]] == [["a", "1/1", "Running", "0", "60s"],
                                                           ["b", "1/1", "Running", "0", "60s"]]
    assert table["rows"][0]["object"] == {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                          "metadata": sample_pod("a")["metadata"]}
    assert "conditions" not in table["rows"][0]


@pytest.mark.parametrize(("include_object", "expected"), [
    pytest.param("Object", sample_pod("a"), id="object"),
    pytest.param("None", None, id="none"),
    pytest.param("Metadata", {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                              "metadata": sample_pod("a")["metadata"]}, id="metadata"),
    pytest.param("", {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                      "metadata": sample_pod("a")["metadata"]}, id="empty-means-metadata"),
])
def test_include_object(include_object: str, expected: Obj | None) -> None:
    table = to_table(group="", resource="pods", objects=[sample_pod("a")], include_object=include_object,
                     resource_version="1", now=NOW)
    assert table["rows"][0]["object"] == expected


def test_partial_metadata_has_null_creation_timestamp_when_unset() -> None:
    table = to_table(group="", resource="configmaps", objects=[{"metadata": {"name": "cm"}}], resource_version="1",
                     now=NOW)
    assert table["rows"][0]["object"]["metadata"] == {"name": "cm", "creationTimestamp": None}


def test_v1beta1_table() -> None:
    table = to_table(group="", resource="pods", objects=[sample_pod("a")], resource_version="1", now=NOW,
                     api_version="meta.k8s.io/v1beta1")
    assert table["apiVersion"] == "meta.k8s.io/v1beta1"
    assert table["rows"][0]["object"]["apiVersion"] == "meta.k8s.io/v1beta1"


def test_no_headers_and_empty_metadata() -> None:
    table = to_table(group="", resource="pods", objects=[sample_pod("a")], resource_version="", now=NOW,
                     no_headers=True)
    assert table["columnDefinitions"] is None
    assert table["metadata"] == {}
    assert len(table["rows"]) == 1


@pytest.mark.parametrize(("group", "resource", "rows"), [
    pytest.param("", "pods", [], id="printer-empty-slice"),
    pytest.param("rbac.authorization.k8s.io", "roles", None, id="default-convertor-nil-slice"),
])
def test_empty_table_rows(group: str, resource: str, rows: list[Obj] | None) -> None:
    assert to_table(group=group, resource=resource, objects=[], resource_version="3", now=NOW)["rows"] == rows


@pytest.mark.parametrize(("kwargs", "code", "reason", "message"), [
    pytest.param({"include_object": "Everything"}, 400, "BadRequest",
                 "Unable to convert to Table as requested: includeObject: Invalid value: \"Everything\": "
                 "must be 'Metadata', 'Object', 'None', or empty", id="bad-include-object"),
    pytest.param({"api_version": "meta.k8s.io/v2"}, 406, "NotAcceptable",
                 "no Table exists in group version meta.k8s.io/v2; supported: meta.k8s.io/v1, meta.k8s.io/v1beta1",
                 id="bad-table-version"),
])
def test_table_request_errors(kwargs: Obj, code: int, reason: str, message: str) -> None:
    with pytest.raises(TableConversionError) as caught:
        to_table(group="", resource="pods", objects=[sample_pod("a")], resource_version="1", now=NOW, **kwargs)
    assert isinstance(caught.value, APIError)
    assert caught.value.status() == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                     "message": message, "reason": reason, "code": code}


# --- custom resources ---------------------------------------------------------------------------

WIDGET_COLUMNS = [
    {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
    {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas", "description": "Desired replicas"},
    {"name": "Ratio", "type": "number", "jsonPath": ".spec.ratio"},
    {"name": "Paused", "type": "boolean", "jsonPath": ".spec.paused", "priority": 1},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    {"name": "Image", "type": "string", "format": "byte", "jsonPath": ".spec.containers[0].image", "priority": 1},
]


def widget(**spec: Any) -> Obj:
    return {"apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": "w1", "creationTimestamp": ago(hours=2, minutes=30)}, "spec": spec,
            "status": {"conditions": [{"type": "Synced", "status": "False"}, {"type": "Ready", "status": "True"}]}}


def test_custom_resource_columns() -> None:
    columns = custom_resource_columns(WIDGET_COLUMNS)
    assert [(c["name"], c["type"], c["format"], c["priority"]) for c in columns] == [
        ("Name", "string", "name", 0), ("Ready", "string", "", 0), ("Replicas", "integer", "", 0),
        ("Ratio", "number", "", 0), ("Paused", "boolean", "", 1), ("Age", "date", "", 0),
        ("Image", "string", "byte", 1)]
    assert columns[1]["description"] == (
        'Custom resource definition column (in JSONPath format): .status.conditions[?(@.type=="Ready")].status')
    assert columns[2]["description"] == "Desired replicas"


def test_custom_resource_without_printer_columns_has_age() -> None:
    assert [c["name"] for c in custom_resource_columns([])] == ["Name", "Age"]
    assert custom_resource_cells(additional_printer_columns=[], obj=widget(), now=NOW) == ["w1", "150m"]


@pytest.mark.parametrize(("obj", "expected"), [
    pytest.param(widget(replicas=3, ratio=0.5, paused=False, containers=[{"image": "nginx:1.27"}]),
                 ["w1", "True", 3, 0.5, False, "150m", "nginx:1.27"], id="all-set"),
    pytest.param(widget(), ["w1", "True", None, None, None, "150m", None], id="missing-paths-are-null"),
    pytest.param(widget(replicas=2.9, ratio=2, paused="yes", containers=[]),
                 ["w1", "True", 2, 2.0, None, "150m", None], id="numbers-converted-wrong-types-null"),
    pytest.param(widget(replicas=True, ratio="1"), ["w1", "True", None, None, None, "150m", None],
                 id="bool-is-not-integer-string-is-not-number"),
])
def test_custom_resource_cells(obj: Obj, expected: list[Any]) -> None:
    assert custom_resource_cells(additional_printer_columns=WIDGET_COLUMNS, obj=obj, now=NOW) == expected


@pytest.mark.parametrize(("json_path", "column_type", "expected"), [
    pytest.param(".spec.nested", "string", '{"a":[1,2.5,true,null],"b":"\\u003cx\\u003e \\u0026"}',
                 id="object-as-go-json"),
    pytest.param(".spec.list", "string", '["x","y"]', id="list-as-json"),
    pytest.param(".spec.flag", "string", "true", id="bool-as-text"),
    pytest.param(".spec.big", "string", "1.5e+06", id="float-as-go-fmt"),
    pytest.param(".spec.count", "string", "7", id="int-as-text"),
    pytest.param(".spec.small", "string", "1e-05", id="small-float-as-go-fmt"),
    pytest.param(".spec.floats", "string", "[1e-7,0.5,1e+21,100]", id="floats-as-go-json"),
    pytest.param(".spec.nothing", "string", "<no value>", id="null-value"),
    pytest.param(".spec.list[1]", "string", "y", id="index"),
    pytest.param(".spec.list[-1]", "string", "y", id="negative-index"),
    pytest.param(".spec.list[5]", "string", None, id="index-out-of-range"),
    pytest.param(".spec.list[*]", "string", "x", id="wildcard-first-result"),
    pytest.param(".spec.list[1:]", "string", "y", id="slice"),
    pytest.param(".metadata.labels['app.kubernetes.io/name']", "string", "widget", id="bracket-key-with-dots"),
    pytest.param('.spec.items[?(@.weight>2)].name', "string", "heavy", id="filter-greater"),
    pytest.param('.spec.items[?(@.tag)].name', "string", "heavy", id="filter-exists-first-match"),
    pytest.param(".spec.items[?(@.name!='light')].weight", "integer", 5, id="filter-not-equal-single-quotes"),
    pytest.param(".spec.items[?(@.name=='none')].weight", "integer", None, id="filter-no-match"),
    pytest.param(".spec.items[*].weight", "integer", 1, id="wildcard-over-list"),
    pytest.param(".spec.stamp", "date", "<invalid>", id="bad-date"),
    pytest.param(".spec.emptyStamp", "date", "<unknown>", id="empty-date"),
    pytest.param(".spec.stamp2", "date", "3h", id="offset-date"),
    pytest.param(".spec.count", "date", None, id="date-of-number-is-null"),
])
def test_custom_resource_json_paths(json_path: str, column_type: str, expected: Any) -> None:
    obj = {"metadata": {"name": "w", "labels": {"app.kubernetes.io/name": "widget"}},
           "spec": {"nested": {"b": "<x> &", "a": [1, 2.5, True, None]}, "list": ["x", "y"], "flag": True,
                    "big": 1.5e6, "count": 7, "small": 0.00001, "floats": [1e-7, 0.5, 1e21, 100.0],
                    "nothing": None, "stamp": "yesterday", "emptyStamp": "",
                    "stamp2": "2024-05-01T10:00:00+01:00",
                    "items": [{"name": "light", "weight": 1}, {"name": "heavy", "weight": 5, "tag": "x"},
                              {"name": "tagged", "tag": "y"}]}}
    columns = [{"name": "C", "type": column_type, "jsonPath": json_path}]
    assert custom_resource_cells(additional_printer_columns=columns, obj=obj, now=NOW) == ["w", expected]


def test_unparseable_column_drops_it_and_later_ones_like_upstream() -> None:
    columns = [{"name": "A", "type": "string", "jsonPath": ".spec.a"},
               {"name": "Bad", "type": "string", "jsonPath": ".spec..b"},
               {"name": "C", "type": "string", "jsonPath": ".spec.c"}]
    assert [c["name"] for c in custom_resource_columns(columns)] == ["Name", "A"]
    assert custom_resource_cells(additional_printer_columns=columns, obj={"metadata": {"name": "n"},
                                                                          "spec": {"a": "1", "c": "3"}},
                                 now=NOW) == ["n", "1"]


@pytest.mark.parametrize(("json_path", "error"), [
    pytest.param(".spec.replicas", None, id="simple"),
    pytest.param('.status.conditions[?(@.type=="Ready")].status', None, id="filter"),
    pytest.param(".", None, id="root"),
    pytest.param("", "must not be empty", id="empty"),
    pytest.param("spec.replicas", "must be a simple json path starting with .", id="no-leading-dot"),
    pytest.param(".spec..replicas", "recursive descent '..' is not supported in '.spec..replicas'",
                 id="recursive-descent"),
    pytest.param(".spec[0", "unclosed '[' at position 5 in '.spec[0'", id="unclosed-bracket"),
    pytest.param(".a[?(@.x=~1)]", "unrecognized filter '?(@.x=~1)' in '.a[?(@.x=~1)]': expected ?(@.field) or "
                 "?(@.field OP value) with OP one of ==, !=, <, <=, >, >=", id="bad-filter-operator"),
    pytest.param(".a[?(@.x==ready)]", "unrecognized filter value 'ready': expected a quoted string, a number, true "
                 "or false", id="unquoted-filter-value"),
    pytest.param(".a[x]", "unrecognized array subscript [x] in '.a[x]'", id="bad-subscript"),
])
def test_validate_printer_column_path(json_path: str, error: str | None) -> None:
    assert validate_printer_column_path(json_path) == error


def test_custom_resource_table() -> None:
    table = to_table(group="example.com", resource="widgets", objects=[widget(replicas=2)], resource_version="9",
                     now=NOW, additional_printer_columns=WIDGET_COLUMNS[:2], include_object="Object")
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Ready", "Replicas"]
    assert table["rows"] == [{"cells": ["w1", "True", 2], "object": widget(replicas=2)}]
    empty = to_table(group="example.com", resource="widgets", objects=[], resource_version="9", now=NOW,
                     additional_printer_columns=[])
    assert empty["rows"] == []
