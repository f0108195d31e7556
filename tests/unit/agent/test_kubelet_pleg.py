"""PLEG's pure diff: which lifecycle events turn one runtime relist into the next."""

from __future__ import annotations

import pytest

from kubelite.agent.kubelet.pleg import (
    CONTAINER_CHANGED,
    CONTAINER_DIED,
    CONTAINER_REMOVED,
    CONTAINER_STARTED,
    PodLifecycleEvent,
    generate_events,
)


@pytest.mark.parametrize(("old", "new", "expected"), [
    pytest.param({}, {"p": {"c": "running"}}, [("p", CONTAINER_STARTED, "c")], id="new-running"),
    pytest.param({}, {"p": {"c": "created"}}, [], id="new-created-is-silent"),
    pytest.param({"p": {"c": "created"}}, {"p": {"c": "running"}}, [("p", CONTAINER_STARTED, "c")], id="started"),
    pytest.param({"p": {"c": "running"}}, {"p": {"c": "exited"}}, [("p", CONTAINER_DIED, "c")], id="died"),
    pytest.param({"p": {"c": "running"}}, {"p": {"c": "running"}}, [], id="unchanged"),
    pytest.param({"p": {"c": "exited"}}, {}, [("p", CONTAINER_REMOVED, "c")], id="removed-after-exit"),
    pytest.param({"p": {"c": "running"}}, {"p": {}},
                 [("p", CONTAINER_DIED, "c"), ("p", CONTAINER_REMOVED, "c")], id="vanished-while-running"),
    pytest.param({"p": {"c": "running"}}, {"p": {"c": "unknown"}}, [("p", CONTAINER_CHANGED, "c")], id="unknown"),
    pytest.param({"a": {"1": "running"}, "b": {"2": "running"}}, {"a": {"1": "exited"}, "b": {"2": "running"}},
                 [("a", CONTAINER_DIED, "1")], id="only-the-changed-pod"),
])
def test_generate_events(old: dict[str, dict[str, str]], new: dict[str, dict[str, str]],
                         expected: list[tuple[str, str, str]]) -> None:
    assert generate_events(old, new) == [PodLifecycleEvent(*e) for e in expected]
