"""Object metadata helpers: uids and timestamps in upstream's wire forms."""

from __future__ import annotations

import os
import re
import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from kubelite.api.meta import new_uid, rfc3339, uid_text


@settings(max_examples=500, deadline=None)
@given(random16=st.binary(min_size=16, max_size=16))
def test_uid_text_is_what_the_uuid_module_writes(random16: bytes) -> None:
    assert uid_text(random16) == str(uuid.UUID(bytes=random16, version=4))


def test_new_uids_are_random_version_4_uuids() -> None:
    uids = {new_uid() for _ in range(1000)}
    assert len(uids) == 1000
    for uid in uids:
        assert uuid.UUID(uid).version == 4 and uuid.UUID(uid).variant == uuid.RFC_4122 and str(uuid.UUID(uid)) == uid


def test_a_forked_child_does_not_repeat_its_parents_uids() -> None:
    new_uid()  # the parent holds a block of random bytes now
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next UIDs, to the parent
        try:
            os.write(write, " ".join(new_uid() for _ in range(4)).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = pipe.read().split()
    os.waitpid(pid, 0)
    parent = [new_uid() for _ in range(4)]
    assert len(child) == 4 and not set(child) & set(parent)


def test_rfc3339_now_is_the_current_second_in_utc() -> None:
    for _ in range(3):
        before = datetime.now(UTC).replace(microsecond=0)
        text = rfc3339()
        after = datetime.now(UTC)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", text)
        assert before <= datetime.fromisoformat(text.replace("Z", "+00:00")) <= after


def test_rfc3339_of_a_given_moment() -> None:
    moment = datetime(2026, 3, 4, 5, 6, 7, 890000, tzinfo=UTC)
    assert rfc3339(moment) == "2026-03-04T05:06:07Z"
    assert rfc3339(moment.astimezone(UTC).astimezone(tz=None)) == "2026-03-04T05:06:07Z"
    assert rfc3339(moment + timedelta(seconds=1)) == "2026-03-04T05:06:08Z"
