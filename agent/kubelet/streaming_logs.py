"""Reading CRI container log files for ``kubectl logs``: upstream's kuberuntime ReadLogs.

Design
------
The runtime writes each container's output to the file CRI ContainerStatus names (``log_path``), one
entry per line: ``<RFC3339Nano timestamp> <stdout|stderr> <F|P> <text>``; ``P`` marks a partial line
that continues in the next entry (the runtime splits long lines). :func:`parse_line` decodes one entry;
:func:`read_logs` turns a file into the bytes the user sees, applying the PodLogOptions as upstream:

* ``tailLines`` counts entries from the end of the file (the last N file lines), applied first;
* ``sinceSeconds``/``sinceTime`` skip entries older than the instant;
* ``timestamps`` prefixes every entry with its timestamp and a space;
* ``limitBytes`` stops after that many output bytes (the cut may fall inside an entry);
* ``stream`` (stdout, stderr or All) keeps one stream;
* ``follow`` keeps reading as the file grows, re-opening it when the kubelet rotates it (the path now
  names a new file), and ends once the container stopped and the file is read to its end.

Malformed lines are skipped (upstream logs and skips them) so one bad write never hides the rest.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

__all__ = ["LogEntry", "LogOptions", "parse_line", "parse_timestamp", "read_logs", "tail_offset"]

FOLLOW_POLL: Final = 0.2
READ_CHUNK: Final = 64 * 1024
_TIMESTAMP = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


@dataclass(frozen=True)
class LogEntry:
    timestamp: str  # as written, RFC3339Nano
    time: dt.datetime
    stream: str
    partial: bool
    content: bytes


@dataclass(frozen=True)
class LogOptions:
    follow: bool = False
    tail_lines: int | None = None
    since: dt.datetime | None = None
    timestamps: bool = False
    limit_bytes: int | None = None
    stream: str = "All"  # stdout, stderr or All


def parse_timestamp(text: str) -> dt.datetime:
    """RFC3339 with up to nanoseconds (Python keeps microseconds); raises ValueError otherwise."""
    match = _TIMESTAMP.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not an RFC3339 time")
    base, fraction, zone = match.groups()
    micros = int((fraction or ".0")[1:7].ljust(6, "0"))
    tz = dt.UTC if zone == "Z" else dt.datetime.strptime(zone.replace(":", ""), "%z").tzinfo
    return dt.datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(microsecond=micros, tzinfo=tz)


def parse_line(line: bytes) -> LogEntry | None:
    """One CRI log entry (without its trailing newline), or None when the line is malformed."""
    parts = line.split(b" ", 3)
    if len(parts) < 3:
        return None
    timestamp, stream, tag = parts[0].decode("ascii", "replace"), parts[1], parts[2]
    if stream not in (b"stdout", b"stderr") or tag not in (b"F", b"P"):
        return None
    try:
        when = parse_timestamp(timestamp)
    except ValueError:
        return None
    return LogEntry(timestamp, when, stream.decode(), tag == b"P", parts[3] if len(parts) > 3 else b"")


def tail_offset(path: Path, lines: int) -> int:
    """File offset where the last ``lines`` newline-terminated lines start (0 when fewer exist)."""
    if lines <= 0:
        return os.path.getsize(path)
    with path.open("rb") as file:
        end = file.seek(0, os.SEEK_END)
        position, found = end, 0
        # A final newline ends the last line; it does not start another one.
        while position > 0:
            step = min(READ_CHUNK, position)
            position -= step
            file.seek(position)
            block = file.read(step)
            for index in range(len(block) - 1, -1, -1):
                if block[index] == 0x0A and position + index != end - 1:
                    found += 1
                    if found == lines:
                        return position + index + 1
        return 0


def _render(entry: LogEntry, options: LogOptions) -> bytes:
    out = entry.content if entry.partial else entry.content + b"\n"
    if options.timestamps:
        out = entry.timestamp.encode() + b" " + out
    return out


def _keep(entry: LogEntry, options: LogOptions) -> bool:
    if options.stream not in ("All", entry.stream):
        return False
    return options.since is None or entry.time >= options.since


async def read_logs(*, path: Path, options: LogOptions,
                    still_running: Callable[[], Awaitable[bool]] | None = None) -> AsyncIterator[bytes]:
    """Yield the rendered log of the file at ``path``; with ``follow``, until the container stopped.

    ``still_running`` is asked when following reaches the end of the file; without it, following stops
    at the end. Raises FileNotFoundError when the file does not exist.
    """
    remaining = options.limit_bytes
    file = path.open("rb")
    try:
        identity = os.fstat(file.fileno()).st_ino
        if options.tail_lines is not None:
            file.seek(tail_offset(path, options.tail_lines))
        pending = b""
        while True:
            chunk = await asyncio.to_thread(file.read, READ_CHUNK)
            if chunk:
                pending += chunk
                *lines, pending = pending.split(b"\n")
                out = bytearray()
                for line in lines:
                    entry = parse_line(line)
                    if entry is not None and _keep(entry, options):
                        out += _render(entry, options)
                if out:
                    if remaining is not None:
                        out = out[:remaining]
                        remaining -= len(out)
                    yield bytes(out)
                    if remaining is not None and remaining <= 0:
                        return
                continue
            if not options.follow:
                return
            # At the end: a rotation replaced the file under our path, or we wait for more.
            try:
                rotated = os.stat(path).st_ino != identity
            except FileNotFoundError:
                rotated = False
            if rotated:
                file.close()
                file = path.open("rb")
                identity = os.fstat(file.fileno()).st_ino
                continue
            if still_running is None or not await still_running():
                # One last read: the container may have written just before it stopped.
                if not await asyncio.to_thread(file.read, 1):
                    return
                file.seek(-1, os.SEEK_CUR)
                continue
            await asyncio.sleep(FOLLOW_POLL)
    finally:
        file.close()
