"""Priority admission: priorityClassName resolved into spec.priority/preemptionPolicy, the global
default, refusals with upstream's messages, one globalDefault class, built-in classes at start."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kubelite.controlplane.admission import priority
from kubelite.controlplane.admission.chain import CREATE, UPDATE, AdmissionDenied, AdmissionRequest
from kubelite.controlplane.apiserver.kinds.scheduling import SYSTEM_PRIORITY_CLASSES
from kubelite.controlplane.apiserver.resources import ResourceInfo
from kubelite.controlplane.apiserver.strategy import PodStrategy

Obj = dict[str, Any]


def pc(name: str, value: int, *, default: bool = False, policy: str | None = None) -> Obj:
    obj: Obj = {"metadata": {"name": name}, "value": value, "globalDefault": default}
    if policy is not None:
        obj["preemptionPolicy"] = policy
    return obj


def pod(**spec: Any) -> Obj:
    return {"metadata": {"name": "p", "namespace": "ns"}, "spec": {"containers": [{"name": "c"}], **spec}}


def run(obj: Obj, classes: list[Obj], *, group: str = "", resource: str = "pods", old: Obj | None = None,
        subresource: str = "") -> Obj:
    store = {f"{priority.PREFIX}{c['metadata']['name']}": c for c in classes}

    def list_objects(prefix: str, key_prefix: str) -> list[Obj]:
        return [o for k, o in sorted(store.items()) if k.startswith(key_prefix)]

    async def get_object(key: str) -> Obj | None:
        return store.get(key)

    request = AdmissionRequest(group, resource, "Pod", "ns", obj, None, False, list_objects, get_object,
                               operation=UPDATE if old is not None else CREATE, old_obj=old, subresource=subresource)
    asyncio.run(priority.admit(request))
    return obj


HIGH = pc("high", 1000)
POLITE = pc("polite", 500, policy="Never")


@pytest.mark.parametrize(("spec", "classes", "expected"), [
    pytest.param({}, [], {"priority": 0, "preemptionPolicy": "PreemptLowerPriority"}, id="no-class-no-default"),
    pytest.param({"priorityClassName": "high"}, [HIGH], {"priority": 1000, "preemptionPolicy": "PreemptLowerPriority",
                                                         "priorityClassName": "high"}, id="named-class"),
    pytest.param({"priorityClassName": "polite"}, [POLITE], {"priority": 500, "preemptionPolicy": "Never"},
                 id="class-preemption-policy"),
    pytest.param({}, [HIGH, pc("dflt", 7, default=True)], {"priority": 7, "priorityClassName": "dflt"},
                 id="global-default-fills-name"),
    pytest.param({}, [pc("a", 9, default=True), pc("b", 3, default=True)], {"priority": 3, "priorityClassName": "b"},
                 id="two-defaults-lowest-wins"),
    pytest.param({"priorityClassName": "high", "priority": 1000}, [HIGH], {"priority": 1000},
                 id="same-priority-echoed-is-fine"),
    pytest.param({"priorityClassName": "system-node-critical"},
                 [pc("system-node-critical", 2000001000)], {"priority": 2000001000}, id="system-class"),
])
def test_pod_priority_resolved(spec: Obj, classes: list[Obj], expected: Obj) -> None:
    got = run(pod(**spec), classes)["spec"]
    assert {k: got.get(k) for k in expected} == expected


@pytest.mark.parametrize(("spec", "classes", "message"), [
    pytest.param({"priorityClassName": "missing"}, [HIGH], "no PriorityClass with name missing was found",
                 id="unknown-class"),
    pytest.param({"priorityClassName": "high", "priority": 5}, [HIGH],
                 "the integer value of priority (5) must not be provided in pod spec; priority admission "
                 "controller computed 1000 from the given PriorityClass name", id="priority-disagrees"),
    pytest.param({"priority": 10}, [], "the integer value of priority (10) must not be provided in pod spec; "
                 "priority admission controller computed 0 from the given PriorityClass name", id="raise-own-priority"),
    pytest.param({"priorityClassName": "polite", "preemptionPolicy": "PreemptLowerPriority"}, [POLITE],
                 "the string value of PreemptionPolicy (PreemptLowerPriority) must not be provided in pod spec; "
                 "priority admission controller computed Never from the given PriorityClass name",
                 id="policy-disagrees"),
])
def test_pod_refused(spec: Obj, classes: list[Obj], message: str) -> None:
    obj = pod(**spec)
    with pytest.raises(AdmissionDenied) as err:
        run(obj, classes)
    assert err.value.message == message
    assert obj["spec"].get("priority") == spec.get("priority")  # nothing changed


def test_only_one_global_default() -> None:
    with pytest.raises(AdmissionDenied) as err:
        run(pc("second", 1, default=True), [pc("first", 2, default=True)], group="scheduling.k8s.io",
            resource="priorityclasses")
    assert err.value.message == "PriorityClass first is already marked as default. Only one default can exist"
    run(pc("second", 1, default=True), [pc("first", 2)], group="scheduling.k8s.io", resource="priorityclasses")
    run(pc("third", 1), [pc("first", 2, default=True)], group="scheduling.k8s.io", resource="priorityclasses")


def test_update_of_the_default_class_itself_is_allowed() -> None:
    first = pc("first", 2, default=True)
    run(pc("first", 2, default=True), [first], group="scheduling.k8s.io", resource="priorityclasses", old=first)
    with pytest.raises(AdmissionDenied):
        run(pc("other", 1, default=True), [first, pc("other", 1)], group="scheduling.k8s.io",
            resource="priorityclasses", old=pc("other", 1))


def test_pod_updates_and_subresources_untouched() -> None:
    stored = pod(priority=1000, priorityClassName="gone")
    assert run(pod(priority=1000, priorityClassName="gone"), [], old=stored)["spec"]["priority"] == 1000
    binding = {"metadata": {"name": "p"}, "target": {"name": "n"}}
    assert run(binding, [], subresource="binding") == {"metadata": {"name": "p"}, "target": {"name": "n"}}


def test_other_resources_untouched() -> None:
    obj = {"metadata": {"name": "cm"}, "data": {"priority": "x"}}
    assert run(obj, [], resource="configmaps") == {"metadata": {"name": "cm"}, "data": {"priority": "x"}}


def test_system_classes_created_when_missing() -> None:
    present = {"system-node-critical"}
    created: list[Obj] = []

    async def exists(name: str) -> bool:
        return name in present

    async def create(obj: Obj) -> None:
        created.append(obj)

    made = asyncio.run(priority.ensure_system_priority_classes(exists=exists, create=create,
                                                               classes=SYSTEM_PRIORITY_CLASSES))
    assert made == ["system-cluster-critical"]
    assert created[0]["value"] == 2000000000 and created[0]["globalDefault"] is False
    assert SYSTEM_PRIORITY_CLASSES["system-node-critical"][0] == 2000001000


def test_pod_update_without_priority_keeps_the_stored_one() -> None:
    """A PUT of a manifest without spec.priority (kubectl replace) keeps what admission set at create."""
    strategy = PodStrategy(ResourceInfo("", "v1", "Pod", "pods", True), unknown_fields=None)
    old = pod(priority=1000, preemptionPolicy="Never", priorityClassName="high")
    new = strategy.prepare_for_update(pod(priorityClassName="high"), old)
    assert (new["spec"]["priority"], new["spec"]["preemptionPolicy"]) == (1000, "Never")
    changed = strategy.prepare_for_update(pod(priority=5, priorityClassName="high"), old)
    assert changed["spec"]["priority"] == 5  # left for validation to refuse as a spec change
