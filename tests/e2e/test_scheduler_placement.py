"""The scheduler in a real `kubelite server`: Nodes are plain objects created with kubectl (no kubelet
is needed to bind), pods are placed by taints, selectors, affinity and free resources, and unschedulable
pods say why, as upstream does, until a node that fits appears."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_harness import Server, temporary_server

Obj = dict[str, Any]


def wait_for(probe: Callable[[], Any], *, what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def create(server: Server, obj: Obj) -> None:
    server.kubectl("create", "-f", "-", input=json.dumps(obj))


def node(name: str, *, cpu: str = "4", memory: str = "8Gi", labels: dict[str, str] | None = None,
         taints: list[Obj] | None = None) -> Obj:
    resources = {"cpu": cpu, "memory": memory, "pods": "110"}
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
            "spec": {"taints": taints or []},
            "status": {"capacity": resources, "allocatable": resources}}


def pod(name: str, namespace: str, *, cpu: str | None = None, **spec: Any) -> Obj:
    container: Obj = {"name": "main", "image": "busybox"}
    if cpu is not None:
        container["resources"] = {"requests": {"cpu": cpu}}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
            "spec": {"containers": [container], **spec}}


def get_pod(server: Server, namespace: str, name: str) -> Obj:
    return json.loads(server.kubectl("get", "pod", name, "-n", namespace, "-o", "json").stdout)  # type: ignore[no-any-return]


def node_of(server: Server, namespace: str, name: str, timeout: float = 30.0) -> str:
    return str(wait_for(lambda: get_pod(server, namespace, name)["spec"].get("nodeName"),
                        what=f"pod {name} bound", timeout=timeout))


def scheduled_condition(server: Server, namespace: str, name: str, timeout: float = 30.0) -> Obj:
    def probe() -> Obj | None:
        for condition in get_pod(server, namespace, name)["status"].get("conditions") or []:
            if condition["type"] == "PodScheduled" and condition["status"] == "False":
                return condition  # type: ignore[no-any-return]
        return None

    return wait_for(probe, what=f"PodScheduled=False on {name}", timeout=timeout)  # type: ignore[no-any-return]


def events(server: Server, namespace: str, name: str) -> list[Obj]:
    out = server.kubectl("get", "events", "-n", namespace, "--field-selector", f"involvedObject.name={name}",
                         "-o", "json").stdout
    return json.loads(out)["items"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with temporary_server("kubelite-sched-") as srv:
        yield srv


@pytest.fixture
def namespace(server: Server) -> Iterator[str]:
    """A namespace per test; every Node the test made is deleted afterwards, so each test sees its own."""
    ns = f"sched-{uuid.uuid4().hex[:8]}"
    server.kubectl("create", "namespace", ns)
    try:
        yield ns
    finally:
        # no kubelet finishes these pods' termination: remove them now, so none still holds room on a Node
        # of the same name that the next test creates (the scheduler counts terminating pods, as upstream)
        server.kubectl("delete", "pods", "--all", "-n", ns, "--force", "--grace-period=0", check=False)
        server.kubectl("delete", "nodes", "--all", "--wait=false", check=False)
        server.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def test_taints_repel_pods_that_do_not_tolerate_them(server: Server, namespace: str) -> None:
    create(server, node("tainted", taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]))
    create(server, node("plain"))
    for i in range(3):
        create(server, pod(f"free-{i}", namespace))
    create(server, pod("tolerant", namespace, nodeSelector={"kubernetes.io/hostname": "tainted"},
                       tolerations=[{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]))
    create(server, pod("intolerant", namespace, nodeSelector={"kubernetes.io/hostname": "tainted"}))
    assert {node_of(server, namespace, f"free-{i}") for i in range(3)} == {"plain"}
    assert node_of(server, namespace, "tolerant") == "tainted"
    condition = scheduled_condition(server, namespace, "intolerant")
    assert condition["reason"] == "Unschedulable"
    assert condition["message"].startswith("0/2 nodes are available: 1 node(s) didn't match Pod's node "
                                           "affinity/selector, 1 node(s) had untolerated taint {dedicated: gpu}.")
    normal = [e for e in events(server, namespace, "tolerant") if e["reason"] == "Scheduled"]
    assert normal and normal[0]["type"] == "Normal"
    assert normal[0]["message"] == f"Successfully assigned {namespace}/tolerant to tainted"
    assert normal[0]["source"]["component"] == "default-scheduler"


def test_node_selector_and_required_and_preferred_affinity(server: Server, namespace: str) -> None:
    create(server, node("zone-a", labels={"zone": "a", "disk": "ssd"}))
    create(server, node("zone-b", labels={"zone": "b"}))
    create(server, pod("by-selector", namespace, nodeSelector={"zone": "b"}))
    required = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "c"]}]}]}}}
    create(server, pod("by-affinity", namespace, affinity=required))
    preferred = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 50, "preference": {"matchExpressions": [{"key": "disk", "operator": "Exists"}]}}]}}
    create(server, pod("by-preference", namespace, affinity=preferred))
    nowhere = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["z"]}]}]}}}
    create(server, pod("nowhere", namespace, affinity=nowhere))
    assert node_of(server, namespace, "by-selector") == "zone-b"
    assert node_of(server, namespace, "by-affinity") == "zone-a"
    assert node_of(server, namespace, "by-preference") == "zone-a"
    condition = scheduled_condition(server, namespace, "nowhere")
    assert condition["message"].startswith("0/2 nodes are available: 2 node(s) didn't match Pod's node "
                                           "affinity/selector.")


def test_exhausted_resources_leave_the_pod_pending_until_a_node_fits(server: Server, namespace: str) -> None:
    create(server, node("small-1", cpu="1"))
    create(server, node("small-2", cpu="1"))
    create(server, node("tainted", cpu="8", taints=[{"key": "k", "value": "v", "effect": "NoSchedule"}]))
    create(server, pod("fills", namespace, cpu="800m"))
    filled = node_of(server, namespace, "fills")
    create(server, pod("big", namespace, cpu="900m", nodeSelector={"kubernetes.io/hostname": filled}))
    create(server, pod("bigger", namespace, cpu="2"))
    condition = scheduled_condition(server, namespace, "bigger")
    assert condition["reason"] == "Unschedulable"
    assert condition["message"].startswith("0/3 nodes are available: 1 node(s) had untolerated taint {k: v}, "
                                           "2 Insufficient cpu.")
    warning = wait_for(lambda: [e for e in events(server, namespace, "bigger") if e["reason"] == "FailedScheduling"],
                       what="a FailedScheduling event")
    assert warning[0]["type"] == "Warning" and warning[0]["message"] == condition["message"]
    message = scheduled_condition(server, namespace, "big")["message"]
    # filters run in upstream's order: the taint is reported before the selector on the tainted node
    assert message.startswith("0/3 nodes are available: 1 Insufficient cpu, 1 node(s) didn't match Pod's node "
                              "affinity/selector, 1 node(s) had untolerated taint {k: v}.")
    # a node that fits arrives: the parked pod is scheduled on it, without waiting out any timer
    create(server, node("large", cpu="4"))
    assert node_of(server, namespace, "bigger", timeout=15) == "large"
    # a pod leaving frees its room: the pod pinned to that node is scheduled
    server.kubectl("delete", "pod", "fills", "-n", namespace, "--grace-period=0", "--force")
    assert node_of(server, namespace, "big", timeout=15) == filled


def test_pods_named_for_another_scheduler_or_bound_already_are_left_alone(server: Server, namespace: str) -> None:
    create(server, node("n1"))
    create(server, pod("elsewhere", namespace, schedulerName="some-other-scheduler"))
    create(server, pod("pinned", namespace, nodeName="n1"))
    create(server, pod("ours", namespace))
    assert node_of(server, namespace, "ours") == "n1"
    assert node_of(server, namespace, "pinned") == "n1"
    other = get_pod(server, namespace, "elsewhere")
    assert not other["spec"].get("nodeName") and not other["status"].get("conditions")
    assert events(server, namespace, "pinned") == []


def test_topology_spread_and_pod_anti_affinity(server: Server, namespace: str) -> None:
    for name, zone in (("a1", "a"), ("a2", "a"), ("b1", "b")):
        create(server, node(name, labels={"zone": zone}))
    spread = [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule",
               "labelSelector": {"matchLabels": {"app": "web"}}}]
    zones = []
    for i in range(4):
        web = pod(f"web-{i}", namespace, topologySpreadConstraints=spread)
        web["metadata"]["labels"] = {"app": "web"}
        create(server, web)
        zones.append(node_of(server, namespace, f"web-{i}")[0])  # one at a time: each sees the previous
    assert sorted(zones) == ["a", "a", "b", "b"]
    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "kubernetes.io/hostname"}]}}
    hosts = set()
    for i in range(3):
        db = pod(f"db-{i}", namespace, affinity=anti)
        db["metadata"]["labels"] = {"app": "db"}
        create(server, db)
        hosts.add(node_of(server, namespace, f"db-{i}"))
    assert hosts == {"a1", "a2", "b1"}
    extra = pod("db-3", namespace, affinity=anti)
    extra["metadata"]["labels"] = {"app": "db"}
    create(server, extra)
    message = scheduled_condition(server, namespace, "db-3")["message"]
    # the placed pods' own anti-affinity is checked first, as upstream does
    assert message.startswith("0/3 nodes are available: 3 node(s) didn't satisfy existing pods anti-affinity "
                              "rules. preemption: 0/3 nodes are available: 3 No preemption victims found")


def priority_class(server: Server, name: str, value: int, *extra: str) -> None:
    server.kubectl("create", "priorityclass", name, f"--value={value}", *extra)


def test_a_higher_priority_pod_preempts_a_lower_priority_one(server: Server, namespace: str) -> None:
    vip, polite = f"vip-{namespace}", f"polite-{namespace}"
    priority_class(server, vip, 1000)
    priority_class(server, polite, 1000, "--preemption-policy=Never")
    try:
        create(server, node("only", cpu="2"))
        for name in ("low-a", "low-b"):
            # no kubelet runs here, so victims must not wait for one to confirm their termination
            create(server, pod(name, namespace, cpu="1", terminationGracePeriodSeconds=0))
            assert node_of(server, namespace, name) == "only"
        # the priority comes from the class, through the Priority admission plugin
        create(server, pod("vip", namespace, cpu="1", priorityClassName=vip))
        assert get_pod(server, namespace, "vip")["spec"]["priority"] == 1000
        assert node_of(server, namespace, "vip", timeout=30) == "only"
        remaining = json.loads(server.kubectl("get", "pods", "-n", namespace, "-o", "json").stdout)["items"]
        names = {p["metadata"]["name"] for p in remaining}
        assert "vip" in names and len(names & {"low-a", "low-b"}) == 1, names
        victim = ({"low-a", "low-b"} - names).pop()
        preempted = wait_for(lambda: [e for e in events(server, namespace, victim) if e["reason"] == "Preempted"],
                             what="a Preempted event")
        assert preempted[0]["message"].startswith("Preempted by pod ")
        assert preempted[0]["message"].endswith(" on node only")
        failed = [e for e in events(server, namespace, "vip") if e["reason"] == "FailedScheduling"]
        assert failed and failed[0]["message"] == "0/1 nodes are available: 1 Insufficient cpu."
        # a pod whose class may not preempt stays Pending and says so
        create(server, pod("polite", namespace, cpu="1", priorityClassName=polite))
        assert get_pod(server, namespace, "polite")["spec"]["preemptionPolicy"] == "Never"
        condition = scheduled_condition(server, namespace, "polite")
        assert condition["message"] == ("0/1 nodes are available: 1 Insufficient cpu. "
                                        "preemption: not eligible due to preemptionPolicy=Never..")
    finally:
        server.kubectl("delete", "priorityclass", vip, polite, check=False)


def test_room_freed_by_preemption_is_held_for_the_nominated_pod(server: Server, namespace: str) -> None:
    vip_class = f"vip-{namespace}"
    priority_class(server, vip_class, 1000)
    hold = "kubelite.test/hold"
    try:
        create(server, node("only", cpu="2"))
        create(server, pod("quick", namespace, cpu="1", terminationGracePeriodSeconds=0))
        held = pod("held", namespace, cpu="1", terminationGracePeriodSeconds=0)
        held["metadata"]["finalizers"] = [hold]  # this victim stays (terminating) until the test lets it go
        create(server, held)
        for name in ("quick", "held"):
            assert node_of(server, namespace, name) == "only"
        create(server, pod("vip", namespace, cpu="2", priorityClassName=vip_class))
        wait_for(lambda: get_pod(server, namespace, "vip")["status"].get("nominatedNodeName") == "only",
                 what="vip nominated to the node")
        wait_for(lambda: server.kubectl("get", "pod", "quick", "-n", namespace, check=False).returncode != 0,
                 what="the first victim gone")
        # one cpu is free now, but it belongs to the nominated pod: a lower-priority pod must not take it
        create(server, pod("late", namespace, cpu="1"))
        condition = scheduled_condition(server, namespace, "late")
        assert condition["message"].startswith("0/1 nodes are available: 1 Insufficient cpu."), condition
        assert not get_pod(server, namespace, "late")["spec"].get("nodeName")
        release = '{"metadata":{"finalizers":null}}'
        server.kubectl("patch", "pod", "held", "-n", namespace, "--type=merge", "-p", release)
        assert node_of(server, namespace, "vip") == "only"
        assert not get_pod(server, namespace, "late")["spec"].get("nodeName")
    finally:
        server.kubectl("patch", "pod", "held", "-n", namespace, "--type=merge", "-p",
                       '{"metadata":{"finalizers":null}}', check=False)
        server.kubectl("delete", "priorityclass", vip_class, check=False)


def test_priority_admission_resolves_classes_and_refuses_bad_pods(server: Server, namespace: str) -> None:
    # the built-in classes exist from the start
    builtin = json.loads(server.kubectl("get", "priorityclasses", "-o", "json").stdout)["items"]
    values = {pc["metadata"]["name"]: pc["value"] for pc in builtin}
    assert values["system-cluster-critical"] == 2000000000 and values["system-node-critical"] == 2000001000
    refused = server.kubectl("delete", "priorityclass", "system-node-critical", check=False)
    assert refused.returncode != 0
    assert ('priorityclasses.scheduling.k8s.io "system-node-critical" is forbidden: this is a system priority '
            "class and cannot be deleted") in refused.stderr
    create(server, pod("critical", namespace, priorityClassName="system-node-critical"))
    assert get_pod(server, namespace, "critical")["spec"]["priority"] == 2000001000
    refused = server.kubectl("create", "-f", "-", input=json.dumps(pod("lost", namespace, priorityClassName="nope")),
                             check=False)
    assert refused.returncode != 0
    assert ('pods "lost" is forbidden: no PriorityClass with name nope was found') in refused.stderr
    refused = server.kubectl("create", "-f", "-", input=json.dumps(pod("greedy", namespace, priority=99)), check=False)
    assert refused.returncode != 0
    assert ("the integer value of priority (99) must not be provided in pod spec; priority admission controller "
            "computed 0 from the given PriorityClass name") in refused.stderr
    assert server.kubectl("get", "pod", "greedy", "-n", namespace, check=False).returncode != 0
    default, other = f"default-{namespace}", f"other-{namespace}"
    priority_class(server, default, 42, "--global-default")
    try:
        refused = server.kubectl("create", "priorityclass", other, "--value=1", "--global-default", check=False)
        assert refused.returncode != 0
        assert f"PriorityClass {default} is already marked as default. Only one default can exist" in refused.stderr
        priority_class(server, other, 1)
        refused = server.kubectl("patch", "priorityclass", other, "-p", '{"globalDefault": true}', check=False)
        assert refused.returncode != 0 and "Only one default can exist" in refused.stderr
        create(server, pod("plain", namespace))
        spec = get_pod(server, namespace, "plain")["spec"]
        assert (spec["priority"], spec["priorityClassName"]) == (42, default)
    finally:
        server.kubectl("delete", "priorityclass", default, other, check=False)


def test_replicaset_pods_spread_by_the_default_constraints(server: Server, namespace: str) -> None:
    # resource scoring alone would stack every pod on the big node; the system default constraint
    # (hostname, maxSkew 3, ScheduleAnyway, weight 2) spreads the ReplicaSet's pods instead
    create(server, node("big", cpu="64", memory="256Gi"))
    for name in ("small-1", "small-2"):
        create(server, node(name))
    labels = {"app": f"spread-{namespace}"}
    create(server, {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web", "namespace": namespace},
                    "spec": {"replicas": 0, "selector": {"matchLabels": labels},
                             "template": {"metadata": {"labels": labels},
                                          "spec": {"containers": [{"name": "main", "image": "busybox"}]}}}})
    server.kubectl("scale", "replicaset", "web", "-n", namespace, "--replicas=3")

    def placed() -> list[str] | None:
        pods = json.loads(server.kubectl("get", "pods", "-n", namespace, "-o", "json").stdout)["items"]
        nodes = [p["spec"].get("nodeName") for p in pods]
        return nodes if len(nodes) == 3 and all(nodes) else None  # type: ignore[return-value]

    nodes = wait_for(placed, what="three ReplicaSet pods bound")
    assert sorted(nodes) == ["big", "small-1", "small-2"], nodes


def test_pod_affinity_namespace_selector_and_match_label_keys(server: Server, namespace: str) -> None:
    other = f"{namespace}-team"
    server.kubectl("create", "namespace", other)
    try:
        server.kubectl("label", "namespace", other, f"team={namespace}")
        create(server, node("n1"))
        create(server, node("n2"))
        db = pod("db", other, nodeSelector={"kubernetes.io/hostname": "n1"})
        db["metadata"]["labels"] = {"app": "db"}
        create(server, db)
        assert node_of(server, other, "db") == "n1"
        term = {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "kubernetes.io/hostname",
                "namespaceSelector": {"matchLabels": {"team": namespace}}}
        required = {"requiredDuringSchedulingIgnoredDuringExecution": [term]}
        create(server, pod("away", namespace, affinity={"podAntiAffinity": required}))
        create(server, pod("near", namespace, affinity={"podAffinity": required}))
        assert node_of(server, namespace, "away") == "n2"
        assert node_of(server, namespace, "near") == "n1"
        # matchLabelKeys is merged into the selector by the API server when the pod is created
        keyed_term = {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname",
                      "matchLabelKeys": ["rev"]}
        keyed = pod("keyed", namespace,
                    affinity={"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [keyed_term]}})
        keyed["metadata"]["labels"] = {"app": "web", "rev": "7"}
        create(server, keyed)
        stored = get_pod(server, namespace, "keyed")["spec"]["affinity"]["podAntiAffinity"]
        assert stored["requiredDuringSchedulingIgnoredDuringExecution"][0]["labelSelector"] == {
            "matchLabels": {"app": "web"}, "matchExpressions": [{"key": "rev", "operator": "In", "values": ["7"]}]}
    finally:
        server.kubectl("delete", "namespace", other, "--wait=false", check=False)


SCHEDULER_CONFIG = """\
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: default-scheduler
- schedulerName: bin-packer
  plugins:
    score:
      disabled:
      - name: NodeResourcesBalancedAllocation
  pluginConfig:
  - name: NodeResourcesFit
    args:
      scoringStrategy:
        type: MostAllocated
"""


def test_standalone_scheduler_with_two_profiles(tmp_path: Path) -> None:
    config = tmp_path / "scheduler.yaml"
    config.write_text(SCHEDULER_CONFIG)
    with temporary_server("kubelite-sched-standalone-", "--disable-scheduler") as server:
        create(server, node("busy", cpu="4"))
        create(server, node("idle", cpu="4"))
        create(server, pod("resident", "default", cpu="2", nodeName="busy"))
        create(server, pod("spread", "default", cpu="500m"))
        create(server, pod("packed", "default", cpu="500m", schedulerName="bin-packer"))
        time.sleep(0)  # no scheduler runs yet: nothing is bound
        assert not get_pod(server, "default", "spread")["spec"].get("nodeName")
        log = (tmp_path / "scheduler.log").open("wb")
        process = subprocess.Popen([sys.executable, "-m", "kubelite", "scheduler", "--kubeconfig",
                                    str(server.kubeconfig), "--config", str(config), "--leader-elect"],
                                   stdout=log, stderr=subprocess.STDOUT)
        try:
            assert node_of(server, "default", "spread") == "idle"  # LeastAllocated spreads
            assert node_of(server, "default", "packed") == "busy"  # MostAllocated packs
            lease = json.loads(server.kubectl("get", "lease", "kube-scheduler", "-n", "kube-system",
                                              "-o", "json").stdout)
            assert lease["spec"]["holderIdentity"]
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()


def test_standalone_scheduler_refuses_a_bad_configuration(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(SCHEDULER_CONFIG.replace("MostAllocated", "Spread"))
    done = subprocess.run([sys.executable, "-m", "kubelite", "scheduler", "--kubeconfig", str(tmp_path / "none"),
                           "--config", str(config)], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert "scoringStrategy.type: unsupported value 'Spread'" in done.stderr
    assert "Traceback" not in done.stderr
