"""The compaction policy: which revision may be dropped, given samples of past revisions."""

from __future__ import annotations

import pytest

from kubelite.controlplane.storage.compaction import CompactionPolicy, RevisionSample, compaction_target

SAMPLES = [RevisionSample(at=0.0, revision=100), RevisionSample(at=300.0, revision=400),
           RevisionSample(at=600.0, revision=900)]


@pytest.mark.parametrize(
    ("policy", "now", "current", "expected"),
    [
        pytest.param(CompactionPolicy(retain_revisions=1000, retain_seconds=None), 600.0, 5000, 4000,
                     id="revisions-only"),
        pytest.param(CompactionPolicy(retain_revisions=1000, retain_seconds=None), 600.0, 900, None,
                     id="revisions-only-too-young"),
        pytest.param(CompactionPolicy(retain_revisions=None, retain_seconds=300), 600.0, 950, 400,
                     id="time-only-previous-sample"),
        pytest.param(CompactionPolicy(retain_revisions=None, retain_seconds=300), 650.0, 950, 400,
                     id="time-only-between-samples"),
        pytest.param(CompactionPolicy(retain_revisions=None, retain_seconds=1000), 600.0, 950, None,
                     id="time-only-not-watched-long-enough"),
        pytest.param(CompactionPolicy(retain_revisions=100, retain_seconds=300), 600.0, 950, 400,
                     id="both-time-keeps-more"),
        pytest.param(CompactionPolicy(retain_revisions=700, retain_seconds=300), 600.0, 950, 250,
                     id="both-revisions-keep-more"),
        pytest.param(CompactionPolicy(retain_revisions=0, retain_seconds=None), 0.0, 1, None,
                     id="nothing-to-drop-at-revision-1"),
    ],
)
def test_compaction_target_keeps_the_longer_history(policy: CompactionPolicy, now: float, current: int,
                                                    expected: int | None) -> None:
    assert compaction_target(policy=policy, now=now, current=current, samples=SAMPLES) == expected


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"retain_revisions": None, "retain_seconds": None}, "needs retain_revisions", id="no-bound"),
        pytest.param({"interval_seconds": 0}, "interval_seconds must be > 0", id="zero-interval"),
        pytest.param({"retain_revisions": -1}, "retain_revisions must be >= 0", id="negative-revisions"),
        pytest.param({"retain_seconds": -5.0}, "retain_seconds must be >= 0", id="negative-seconds"),
    ],
)
def test_bad_policies_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CompactionPolicy(**kwargs)  # type: ignore[arg-type]
