"""Event recording against a real kubelite server: Event fields, count aggregation, recreation, refusals."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubelite.client import APIClient, APIStatusError, EventRecorder

pytestmark = [pytest.mark.integration]

Obj = dict[str, Any]


@pytest.fixture
async def recorder(client: APIClient) -> AsyncIterator[EventRecorder]:
    rec = EventRecorder(client, component="kubelite-test", host="node-a", retry_sleep=0.01)
    try:
        yield rec
    finally:
        await rec.close()


async def subject(client: APIClient, namespace: str, name: str = "subject") -> Obj:
    created: Obj = await client.resource("", "v1", "configmaps").create({"metadata": {"name": name}},
                                                                        namespace=namespace)
    return created


async def events_about(client: APIClient, namespace: str, name: str) -> list[Obj]:
    listed = await client.resource("", "v1", "events").list(namespace=namespace)
    return sorted((e for e in listed["items"] if e["involvedObject"]["name"] == name),
                  key=lambda e: e["metadata"]["name"])


async def test_an_event_is_written_like_client_go_writes_it(client: APIClient, namespace: str,
                                                            recorder: EventRecorder) -> None:
    obj = await subject(client, namespace)
    recorder.event(obj, event_type="Warning", reason="FailedSync", message="could not sync")
    await recorder.flush()
    [event] = await events_about(client, namespace, "subject")
    name, _, nanos = event["metadata"]["name"].partition(".")
    assert name == "subject" and int(nanos, 16) > 1_600_000_000 * 10**9
    assert event["metadata"]["namespace"] == namespace
    assert event["involvedObject"] == {"kind": "ConfigMap", "apiVersion": "v1", "name": "subject",
                                       "namespace": namespace, "uid": obj["metadata"]["uid"],
                                       "resourceVersion": obj["metadata"]["resourceVersion"]}
    assert (event["type"], event["reason"], event["message"], event["count"]) == \
        ("Warning", "FailedSync", "could not sync", 1)
    assert event["source"] == {"component": "kubelite-test", "host": "node-a"}
    assert event["firstTimestamp"] == event["lastTimestamp"]


async def test_repeated_events_increment_the_count_of_one_event(client: APIClient, namespace: str,
                                                                 recorder: EventRecorder) -> None:
    obj = await subject(client, namespace)
    for _ in range(3):
        recorder.event(obj, event_type="Normal", reason="Synced", message="synced successfully")
        await recorder.flush()
    [event] = await events_about(client, namespace, "subject")
    assert event["count"] == 3
    assert event["lastTimestamp"] >= event["firstTimestamp"]


async def test_many_similar_events_are_combined(client: APIClient, namespace: str, recorder: EventRecorder) -> None:
    obj = await subject(client, namespace)
    for i in range(12):
        recorder.event(obj, event_type="Warning", reason="BackOff", message=f"attempt {i} failed")
    await recorder.flush()
    events = await events_about(client, namespace, "subject")
    combined = [e for e in events if e["message"].startswith("(combined from similar events): ")]
    assert len(events) == 10, "nine individual events, then one combined event"
    assert len(combined) == 1 and combined[0]["count"] == 3
    assert combined[0]["message"] == "(combined from similar events): attempt 11 failed"


async def test_an_event_deleted_meanwhile_is_created_again(client: APIClient, namespace: str,
                                                           recorder: EventRecorder) -> None:
    obj = await subject(client, namespace)
    recorder.event(obj, event_type="Normal", reason="Pulled", message="image pulled")
    await recorder.flush()
    [first] = await events_about(client, namespace, "subject")
    await client.resource("", "v1", "events").delete(first["metadata"]["name"], namespace=namespace)
    recorder.event(obj, event_type="Normal", reason="Pulled", message="image pulled")
    await recorder.flush()
    [again] = await events_about(client, namespace, "subject")
    assert again["metadata"]["name"] == first["metadata"]["name"]
    assert again["count"] == 2


async def test_events_about_cluster_scoped_objects_go_to_default(client: APIClient, recorder: EventRecorder) -> None:
    node_like = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "client-test-node", "uid": "n-1"}}
    recorder.event(node_like, event_type="Normal", reason="NodeReady", message="ready")
    await recorder.flush()
    events = await events_about(client, "default", "client-test-node")
    try:
        assert [e["reason"] for e in events] == ["NodeReady"]
    finally:
        for event in events:
            with contextlib.suppress(APIStatusError):
                await client.resource("", "v1", "events").delete(event["metadata"]["name"], namespace="default")


async def test_a_refused_event_is_logged_not_raised_nor_retried(client: APIClient, recorder: EventRecorder,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="kubelite.client.events")
    orphan = {"apiVersion": "v1", "kind": "ConfigMap",
              "metadata": {"name": "x", "namespace": "no-such-namespace-here", "uid": "u"}}
    recorder.event(orphan, event_type="Normal", reason="Anything", message="m")
    await recorder.flush()
    assert "server rejected event Anything about x" in caplog.text
    assert "will not retry" in caplog.text
