"""Event building and correlation (aggregation, de-duplication, spam filtering) on a fake clock."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from kubelite.client.config import ClientConfig
from kubelite.client.events import (
    AGGREGATE_MESSAGE_PREFIX,
    EventCorrelator,
    EventRecorder,
    object_reference,
)
from kubelite.client.rest import APIClient

Obj = dict[str, Any]

POD: Obj = {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web-1", "namespace": "prod", "uid": "u-1", "resourceVersion": "42"}}
NODE: Obj = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "uid": "u-n"}}


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def recorder(**kwargs: Any) -> EventRecorder:
    # never connects in these tests: only event building is exercised
    return EventRecorder(APIClient(ClientConfig(server="http://127.0.0.1:9")), component="kubelite-test",
                         host="node-a", **kwargs)


def event_about(obj: Obj, *, reason: str = "Started", message: str = "started", event_type: str = "Normal",
                at_ns: int = 1_700_000_000_000_000_000) -> Obj:
    return recorder().make_event(object_reference(obj), event_type=event_type, reason=reason, message=message,
                                 now_ns=at_ns)


@pytest.mark.parametrize(("obj", "ref"), [
    pytest.param(POD, {"kind": "Pod", "apiVersion": "v1", "name": "web-1", "namespace": "prod", "uid": "u-1",
                       "resourceVersion": "42"}, id="namespaced"),
    pytest.param(NODE, {"kind": "Node", "apiVersion": "v1", "name": "n1", "uid": "u-n"}, id="cluster-scoped"),
    pytest.param({"kind": "Deployment", "apiVersion": "apps/v1", "name": "d", "namespace": "x", "fieldPath": ""},
                 {"kind": "Deployment", "apiVersion": "apps/v1", "name": "d", "namespace": "x"}, id="a-reference"),
])
def test_object_reference(obj: Obj, ref: Obj) -> None:
    assert object_reference(obj) == ref


@pytest.mark.parametrize(("obj", "missing"), [
    pytest.param({"metadata": {"name": "a"}}, "kind, apiVersion", id="no-type"),
    pytest.param({"kind": "Pod", "apiVersion": "v1", "metadata": {}}, "metadata.name", id="no-name"),
])
def test_object_reference_needs_type_and_name(obj: Obj, missing: str) -> None:
    with pytest.raises(ValueError, match=f"has no {missing}"):
        object_reference(obj)


def test_event_is_built_like_client_go() -> None:
    event = event_about(POD, at_ns=1_700_000_000_123_456_789)
    assert event["metadata"] == {"name": "web-1.17979cfe3d85cd15", "namespace": "prod"}
    assert int("17979cfe3d85cd15", 16) == 1_700_000_000_123_456_789
    assert event["involvedObject"]["uid"] == "u-1"
    assert event["source"] == {"component": "kubelite-test", "host": "node-a"}
    assert (event["reportingComponent"], event["reportingInstance"]) == ("kubelite-test", "node-a")
    assert event["firstTimestamp"] == event["lastTimestamp"] == "2023-11-14T22:13:20Z"
    assert (event["count"], event["type"], event["reason"]) == (1, "Normal", "Started")


@pytest.mark.parametrize("at_ns", [0, 999_999_999, 1_000_000_000, 1_700_000_000_000_000_000,
                                   1_700_000_000_999_999_999, 1_700_000_001_000_000_000, 1_700_000_000_500_000_000])
def test_event_timestamps_are_the_second_of_the_instant(at_ns: int) -> None:
    # stamps are cached per second: each must still be the instant's own second, across boundaries
    event = event_about(POD, at_ns=at_ns)
    second = datetime.fromtimestamp(at_ns // 1_000_000_000, UTC)
    assert event["firstTimestamp"] == event["lastTimestamp"] == second.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_events_about_cluster_scoped_objects_go_to_default() -> None:
    assert event_about(NODE)["metadata"]["namespace"] == "default"


def test_an_identical_event_becomes_a_count_patch() -> None:
    correlator = EventCorrelator(clock=Clock())
    first = correlator.correlate(event_about(POD, at_ns=1))
    assert first.event is not None and first.patch is None and not first.skip
    # the server answers with the stored Event (its resourceVersion)
    correlator.update_state({**first.event, "metadata": {**first.event["metadata"], "resourceVersion": "7"}})
    second_in = event_about(POD, at_ns=2)
    second_in["lastTimestamp"] = "2030-01-01T00:00:00Z"
    second = correlator.correlate(second_in)
    assert second.event is not None
    assert second.patch == {"count": 2, "lastTimestamp": "2030-01-01T00:00:00Z", "message": "started"}
    assert second.event["metadata"]["name"] == first.event["metadata"]["name"], "the existing Event is patched"
    assert second.event["firstTimestamp"] == first.event["firstTimestamp"]
    third = correlator.correlate(event_about(POD, at_ns=3))
    assert third.patch is not None and third.patch["count"] == 3


@pytest.mark.parametrize(("change", "value"), [
    pytest.param("message", "other message", id="message"),
    pytest.param("reason", "Killing", id="reason"),
    pytest.param("type", "Warning", id="type"),
])
def test_different_events_are_not_deduplicated(change: str, value: str) -> None:
    correlator = EventCorrelator(clock=Clock())
    correlator.correlate(event_about(POD))
    other = event_about(POD)
    other[change] = value
    result = correlator.correlate(other)
    assert result.patch is None and result.event is not None and result.event["count"] == 1


def test_ten_similar_events_are_aggregated() -> None:
    clock = Clock()
    correlator = EventCorrelator(clock=clock)
    results = [correlator.correlate(event_about(POD, message=f"attempt {i}")) for i in range(12)]
    assert all(r.event is not None for r in results)
    messages = [r.event["message"] for r in results if r.event is not None]
    assert messages[:9] == [f"attempt {i}" for i in range(9)]
    assert messages[9] == AGGREGATE_MESSAGE_PREFIX + "attempt 9"
    # further similar events count up on the one aggregate Event
    assert results[9].patch is None
    assert results[10].patch is not None and results[10].patch["count"] == 2
    assert results[10].patch["message"] == AGGREGATE_MESSAGE_PREFIX + "attempt 10"
    combined, latest = results[9].event, results[11].event
    assert combined is not None and latest is not None
    assert latest["metadata"]["name"] == combined["metadata"]["name"]


def test_aggregation_window_restarts_after_ten_quiet_minutes() -> None:
    clock = Clock()
    correlator = EventCorrelator(clock=clock)
    for i in range(9):
        correlator.correlate(event_about(POD, message=f"m{i}"))
    clock.now += 601
    result = correlator.correlate(event_about(POD, message="m9"))
    assert result.event is not None and result.event["message"] == "m9"


def test_spam_filter_allows_a_burst_of_25_then_one_per_five_minutes() -> None:
    clock = Clock()
    correlator = EventCorrelator(clock=clock)
    # distinct reasons so that neither aggregation nor de-duplication hides the filter
    outcomes = [correlator.correlate(event_about(POD, reason=f"R{i}")).skip for i in range(30)]
    assert outcomes == [False] * 25 + [True] * 5
    other_object = correlator.correlate(event_about(NODE, reason="R0"))
    assert not other_object.skip, "the budget is per source and object"
    clock.now += 300
    assert not correlator.correlate(event_about(POD, reason="late")).skip
    assert correlator.correlate(event_about(POD, reason="later")).skip


def test_record_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    rec = recorder()
    caplog.set_level(logging.ERROR)
    rec.event({"metadata": {"name": "typeless"}}, event_type="Normal", reason="R", message="m")
    rec.event(POD, event_type="Info", reason="R", message="m")
    rec.event(POD, event_type="Normal", reason="R", message="no loop is running")  # logged, not raised
    text = caplog.text
    assert "could not construct a reference" in text
    assert "unsupported event type 'Info' (allowed: Normal, Warning)" in text
    assert "dropping event Normal R" in text


def test_recorder_needs_a_component() -> None:
    with pytest.raises(ValueError, match="component"):
        EventRecorder(APIClient(ClientConfig(server="http://127.0.0.1:9")), component="")


class SlowSink:
    """Stands in for the events resource: every write takes a little while; counts overlap."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any]] = []
        self.in_flight = 0
        self.most_in_flight = 0

    async def _write(self, verb: str, name: str, body: Any) -> Obj:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await asyncio.sleep(0.01)
        self.in_flight -= 1
        self.calls.append((verb, name, body))
        return body if verb == "create" else {**body, "metadata": {"name": name}}

    async def create(self, body: Obj, *, namespace: str) -> Obj:
        written = await self._write("create", body["metadata"]["name"], body)
        return {**written, "metadata": {**written["metadata"], "resourceVersion": "1"}}

    async def patch(self, name: str, body: Obj, *, namespace: str, patch_type: str) -> Obj:
        return await self._write("patch", name, body)


async def test_several_writers_overlap_objects_and_keep_each_objects_events_in_order() -> None:
    rec = recorder(writers=4)
    sink = SlowSink()
    rec._events = sink  # type: ignore[assignment]
    pods = [{**POD, "metadata": {**POD["metadata"], "name": f"web-{i}", "uid": f"u-{i}"}} for i in range(8)]
    for pod in pods:
        rec.event(pod, event_type="Normal", reason="Scheduled", message="assigned")
    for pod in pods:  # the same again: each becomes a count patch of the Event its first one created
        rec.event(pod, event_type="Normal", reason="Scheduled", message="assigned")
    await rec.close(timeout=10)
    assert sink.most_in_flight > 1, "events about different objects are written concurrently"
    for pod in pods:
        name = pod["metadata"]["name"]
        mine = [(verb, body) for verb, event_name, body in sink.calls if event_name.startswith(f"{name}.")]
        assert [verb for verb, _ in mine] == ["create", "patch"], f"{name}: created first, then counted"
        assert mine[1][1]["count"] == 2


def test_recorder_needs_at_least_one_writer() -> None:
    with pytest.raises(ValueError, match="writers must be at least 1"):
        recorder(writers=0)
