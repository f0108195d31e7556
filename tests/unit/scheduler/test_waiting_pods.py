"""Pods held at Permit: every waiting plugin must allow, a rejection or a plugin's timeout fails the pod."""

from __future__ import annotations

import asyncio

import pytest

from kubelite.controlplane.scheduler.framework import Code
from kubelite.controlplane.scheduler.waiting_pods import WaitingPod, WaitingPods, _format_wait

POD = {"metadata": {"name": "p", "namespace": "default", "uid": "uid-p"}}


async def test_the_pod_goes_once_every_waiting_plugin_has_allowed_it() -> None:
    waiting = WaitingPod(POD, "n1", {"A": 30.0, "B": 30.0})
    waiting.allow("A")
    assert waiting.pending_plugins() == ["B"]
    verdict = asyncio.ensure_future(waiting.wait())
    await asyncio.sleep(0)
    assert not verdict.done(), "B has not allowed yet"
    waiting.allow("B")
    assert await verdict is None
    assert waiting.pending_plugins() == []


async def test_a_plugin_that_never_allows_rejects_the_pod_at_its_own_timeout() -> None:
    waiting = WaitingPod(POD, "n1", {"Slow": 0.05, "Patient": 30.0})
    waiting.allow("Patient")
    status = await asyncio.wait_for(waiting.wait(), 5)
    assert status is not None and status.code is Code.UNSCHEDULABLE and status.plugin == "Slow"
    assert status.message == "rejected due to timeout after waiting 50ms at plugin Slow"
    assert waiting.pending_plugins() == []


async def test_a_rejection_wins_and_later_verdicts_change_nothing() -> None:
    waiting = WaitingPod(POD, "n1", {"Gang": 30.0})
    waiting.reject("Gang", "the gang is incomplete")
    waiting.allow("Gang")
    status = await waiting.wait()
    assert status is not None and status.is_rejected() and status.message == "the gang is incomplete"


async def test_waiting_pods_by_uid_for_plugins_to_reach() -> None:
    pods = WaitingPods()
    waiting = WaitingPod(POD, "n1", {"Gang": 30.0})
    pods.add(waiting)
    assert pods.get("uid-p") is waiting and len(pods) == 1
    seen: list[str] = []
    pods.iterate(lambda wp: seen.append(wp.node_name))
    assert seen == ["n1"]
    assert pods.reject("uid-p") is True
    assert pods.reject("uid-other") is False
    status = await waiting.wait()
    assert status is not None and status.message == "removed"
    pods.remove("uid-p")
    assert pods.get("uid-p") is None


async def test_a_waiting_pod_needs_a_plugin_to_wait_for() -> None:
    with pytest.raises(ValueError, match="at least one plugin"):
        WaitingPod(POD, "n1", {})


@pytest.mark.parametrize(("seconds", "text"), [
    pytest.param(1.0, "1s", id="seconds"),
    pytest.param(0.5, "500ms", id="milliseconds"),
    pytest.param(2.5, "2.5s", id="fraction"),
    pytest.param(90.0, "1m30s", id="minutes"),
])
def test_waits_are_worded_as_go_prints_durations(seconds: float, text: str) -> None:
    assert _format_wait(seconds) == text
