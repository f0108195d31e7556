"""Registry helpers: pods/binding's change built as a new object equals binding a private copy in place."""

from __future__ import annotations

import copy
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from kubelite.controlplane.apiserver.registry import _assigned, _set_pod_scheduled

NOW = "2026-01-02T03:04:05Z"

_text = st.text(alphabet="abcXYZ-./", max_size=6)
_json = st.recursive(st.none() | st.booleans() | st.integers(-5, 5) | _text,
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
                     max_leaves=8)
_condition = st.fixed_dictionaries({"type": st.sampled_from(["PodScheduled", "Ready", "Initialized"])}, optional={
    "status": st.sampled_from(["True", "False", "Unknown"]),
    "lastTransitionTime": st.sampled_from(["", "2025-01-01T00:00:00Z"]),
    "reason": _text, "message": _text})
_status = st.one_of(
    st.fixed_dictionaries({}, optional={"phase": st.just("Pending"), "conditions": st.lists(
        st.one_of(_condition, _json), max_size=4) | _json, "qosClass": st.just("BestEffort")}),
    _json)
_spec = st.one_of(st.fixed_dictionaries({"containers": st.just([{"name": "c", "image": "i"}])}, optional={
    "nodeName": st.sampled_from(["", None]), "schedulerName": _text, "x": _json}), _json)
_metadata = st.fixed_dictionaries({"name": st.just("p"), "resourceVersion": st.just("7")}, optional={
    "annotations": st.dictionaries(_text, _text, max_size=3) | st.none(), "labels": st.dictionaries(_text, _text)})
_pod = st.fixed_dictionaries({"metadata": _metadata}, optional={
    "apiVersion": st.just("v1"), "kind": st.just("Pod"), "spec": _spec, "status": _status})


def _bound_in_place(pod: dict[str, Any], node: str, annotations: dict[str, str] | None) -> dict[str, Any]:
    """pods/binding's change as it was made before: on a private copy, in place."""
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        spec = pod["spec"] = {}
    spec["nodeName"] = node
    md = pod["metadata"]
    if annotations:
        md["annotations"] = {**(md.get("annotations") or {}), **annotations}
    _set_pod_scheduled(pod, NOW)
    return pod


@settings(max_examples=200, deadline=None)
@given(pod=_pod, node=_text, annotations=st.none() | st.dictionaries(_text, _text, max_size=2))
def test_assigned_equals_binding_a_copy_in_place_and_leaves_the_pod_alone(
        pod: dict[str, Any], node: str, annotations: dict[str, str] | None) -> None:
    before = copy.deepcopy(pod)
    bound = _assigned(pod, node, annotations, NOW)
    assert pod == before, "the pod may be the watch cache's: it must not change"
    expected = _bound_in_place(copy.deepcopy(pod), node, annotations)
    assert bound == expected
    # the same bytes are stored (key order included), and they parse back to the bound pod
    assert orjson.dumps(bound) == orjson.dumps(expected)
    assert orjson.loads(orjson.dumps(bound)) == bound


def test_assigned_replaces_an_old_pod_scheduled_condition_keeping_its_transition_time() -> None:
    pod = {"metadata": {"name": "p"}, "spec": {}, "status": {"conditions": [
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2025-01-01T00:00:00Z", "reason": "x"}]}}
    bound = _assigned(pod, "n1", {"a": "b"}, NOW)
    assert bound["status"]["conditions"] == [{"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                                              "lastTransitionTime": "2025-01-01T00:00:00Z"}]
    assert bound["spec"] == {"nodeName": "n1"} and bound["metadata"]["annotations"] == {"a": "b"}
    assert pod["status"]["conditions"][0]["reason"] == "x" and "annotations" not in pod["metadata"]
