"""CRI log files rendered as `kubectl logs` shows them: parsing, tail, since, timestamps, limits, follow."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from pathlib import Path

import pytest

from kubelite.agent.kubelet.streaming_logs import LogOptions, parse_line, parse_timestamp, read_logs, tail_offset

LOG = (
    b"2026-01-01T10:00:00.000000001Z stdout F first\n"
    b"2026-01-01T10:00:01.5Z stderr F oops\n"
    b"not a cri line\n"
    b"2026-01-01T10:00:02Z stdout P par\n"
    b"2026-01-01T10:00:02.1Z stdout F tial\n"
    b"2026-01-01T10:00:03+01:00 stdout F zoned\n"
    b"2026-01-01T10:00:04Z stdout F last\n"
)


async def collect(path: Path, options: LogOptions, **kw: object) -> bytes:
    return b"".join([chunk async for chunk in read_logs(path=path, options=options, **kw)])  # type: ignore[arg-type]


@pytest.fixture
def log_file(tmp_path: Path) -> Path:
    path = tmp_path / "0.log"
    path.write_bytes(LOG)
    return path


def test_parse_line_reads_the_cri_format() -> None:
    entry = parse_line(b"2026-01-01T10:00:00.123456789Z stderr P hello world")
    assert entry is not None
    assert (entry.stream, entry.partial, entry.content) == ("stderr", True, b"hello world")
    assert entry.time == dt.datetime(2026, 1, 1, 10, 0, 0, 123456, tzinfo=dt.UTC)
    assert parse_line(b"2026-01-01T10:00:00Z stdout F") is not None  # an empty line
    for bad in (b"garbage", b"2026-01-01T10:00:00Z stdin F x", b"2026-01-01T10:00:00Z stdout X x",
                b"yesterday stdout F x"):
        assert parse_line(bad) is None


def test_parse_timestamp_accepts_offsets_and_rejects_junk() -> None:
    assert parse_timestamp("2026-01-01T11:00:00+01:00") == dt.datetime(2026, 1, 1, 10, tzinfo=dt.UTC)
    with pytest.raises(ValueError):
        parse_timestamp("2026-01-01 10:00:00")


async def test_plain_read_joins_partial_lines_and_skips_malformed(log_file: Path) -> None:
    assert await collect(log_file, LogOptions()) == b"first\noops\npartial\nzoned\nlast\n"


@pytest.mark.parametrize(("options", "expected"), [
    pytest.param(LogOptions(tail_lines=2), b"zoned\nlast\n", id="tail"),
    pytest.param(LogOptions(tail_lines=0), b"", id="tail-zero"),
    pytest.param(LogOptions(tail_lines=100), b"first\noops\npartial\nzoned\nlast\n", id="tail-more-than-file"),
    pytest.param(LogOptions(since=dt.datetime(2026, 1, 1, 10, 0, 2, tzinfo=dt.UTC)), b"partial\nlast\n",
                 id="since"),
    pytest.param(LogOptions(limit_bytes=8), b"first\noo", id="limit-bytes"),
    pytest.param(LogOptions(stream="stderr"), b"oops\n", id="stderr-only"),
    pytest.param(LogOptions(timestamps=True, tail_lines=1), b"2026-01-01T10:00:04Z last\n", id="timestamps"),
])
async def test_options_as_upstream(log_file: Path, options: LogOptions, expected: bytes) -> None:
    assert await collect(log_file, options) == expected


def test_tail_offset_counts_lines_from_the_end(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    path.write_bytes(b"a\nbb\nccc\n")
    assert [tail_offset(path, n) for n in (0, 1, 2, 3, 4)] == [9, 5, 2, 0, 0]
    path.write_bytes(b"")
    assert tail_offset(path, 3) == 0


async def test_follow_reads_appended_lines_and_a_rotated_file_then_stops(log_file: Path) -> None:
    running = True

    async def still_running() -> bool:
        return running

    chunks: list[bytes] = []

    async def follow() -> None:
        async for chunk in read_logs(path=log_file, options=LogOptions(follow=True, tail_lines=1),
                                     still_running=still_running):
            chunks.append(chunk)

    async def until(text: bytes) -> None:
        for _ in range(100):
            if b"".join(chunks).endswith(text):
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"{text!r} was not followed; got {b''.join(chunks)!r}")

    task = asyncio.ensure_future(follow())
    await until(b"last\n")
    with log_file.open("ab") as out:
        out.write(b"2026-01-01T10:00:05Z stdout F appended\n")
    await until(b"appended\n")
    # rotation: the kubelet renames the file and the runtime reopens a new one at the same path
    os.rename(log_file, log_file.with_suffix(".log.1"))
    log_file.write_bytes(b"2026-01-01T10:00:06Z stdout F after-rotation\n")
    await until(b"after-rotation\n")
    running = False
    await asyncio.wait_for(task, 5)
    assert b"".join(chunks) == b"last\nappended\nafter-rotation\n"


async def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        await collect(tmp_path / "absent.log", LogOptions())
