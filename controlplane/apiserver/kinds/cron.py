"""Standard cron schedules as CronJob validation parses them (robfig/cron v3 ``ParseStandard``).

Only what validation needs: whether a schedule parses, and if not, robfig's error text, which
upstream puts verbatim into ``spec.schedule: Invalid value: "...": <error>``. Five fields (minute,
hour, day of month, month, day of week) with ``*``/``?``, ranges, steps, lists and month/weekday
names, or a descriptor (``@daily``, ``@every 1h30m``), optionally after ``TZ=``/``CRON_TZ=``.
The parser stops at the first error, as robfig does.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from typing import Final

__all__ = ["CronError", "parse_standard"]


class CronError(ValueError):
    """A schedule that does not parse; ``str()`` is robfig's message."""


@dataclass(frozen=True)
class _Bounds:
    low: int
    high: int
    names: dict[str, int] | None = None


_MONTHS: Final = {name: i + 1 for i, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"))}
_DAYS: Final = {name: i for i, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
_FIELDS: Final = (_Bounds(0, 59), _Bounds(0, 23), _Bounds(1, 31), _Bounds(1, 12, _MONTHS), _Bounds(0, 6, _DAYS))
_DESCRIPTORS: Final = frozenset({"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"})
_INT64_MAX: Final = 2**63 - 1


def _go_atoi(text: str) -> int:
    """Go strconv.Atoi, with its error text."""
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        raise CronError(f'strconv.Atoi: parsing "{text}": invalid syntax')
    value = int(text)
    if not -_INT64_MAX - 1 <= value <= _INT64_MAX:
        raise CronError(f'strconv.Atoi: parsing "{text}": value out of range')
    return value


def _must_parse_int(expr: str) -> int:
    try:
        number = _go_atoi(expr)
    except CronError as exc:
        raise CronError(f"failed to parse int from {expr}: {exc}") from None
    if number < 0:
        raise CronError(f"negative number ({number}) not allowed: {expr}")
    return number


def _parse_int_or_name(expr: str, names: dict[str, int] | None) -> int:
    if names is not None and expr.lower() in names:
        return names[expr.lower()]
    return _must_parse_int(expr)


def _check_range(expr: str, bounds: _Bounds) -> None:
    """robfig getRange: one ``a``, ``a-b``, ``*`` or ``?``, optionally ``/step``."""
    range_and_step = expr.split("/")
    low_and_high = range_and_step[0].split("-")
    single = len(low_and_high) == 1
    if low_and_high[0] in ("*", "?"):
        start, end = bounds.low, bounds.high
    else:
        start = _parse_int_or_name(low_and_high[0], bounds.names)
        if len(low_and_high) == 1:
            end = start
        elif len(low_and_high) == 2:
            end = _parse_int_or_name(low_and_high[1], bounds.names)
        else:
            raise CronError(f"too many hyphens: {expr}")
    if len(range_and_step) == 1:
        step = 1
    elif len(range_and_step) == 2:
        step = _must_parse_int(range_and_step[1])
        if single:  # "N/step" means "N-max/step"
            end = bounds.high
    else:
        raise CronError(f"too many slashes: {expr}")
    if start < bounds.low:
        raise CronError(f"beginning of range ({start}) below minimum ({bounds.low}): {expr}")
    if end > bounds.high:
        raise CronError(f"end of range ({end}) above maximum ({bounds.high}): {expr}")
    if start > end:
        raise CronError(f"beginning of range ({start}) beyond end of range ({end}): {expr}")
    if step == 0:
        raise CronError(f"step of range should be a positive number: {expr}")


_DURATION_UNITS: Final = ("ns", "us", "µs", "μs", "ms", "s", "m", "h")
_DURATION_PART: Final = re.compile(r"([0-9]*(?:\.[0-9]*)?)([^0-9.]*)")


def _check_go_duration(text: str) -> None:
    """Go time.ParseDuration's acceptance and error texts, for ``@every``."""
    quoted = f'"{text}"'
    body = text[1:] if text[:1] in ("+", "-") else text
    if body == "0":
        return
    if not body:
        raise CronError(f"time: invalid duration {quoted}")
    position = 0
    while position < len(body):
        match = _DURATION_PART.match(body, position)
        number, unit = (match.group(1), match.group(2)) if match else ("", "")
        if match is None or number in ("", "."):
            raise CronError(f"time: invalid duration {quoted}")
        if not unit:
            raise CronError(f"time: missing unit in duration {quoted}")
        if unit not in _DURATION_UNITS:
            # Go takes the unit as everything up to the next digit or '.'
            raise CronError(f'time: unknown unit "{unit}" in duration {quoted}')
        position = match.end()


def parse_standard(spec: str) -> None:
    """Raise :class:`CronError` unless ``spec`` is a valid standard cron schedule."""
    if not spec:
        raise CronError("empty spec string")
    if spec.startswith(("TZ=", "CRON_TZ=")):
        space, equals = spec.find(" "), spec.index("=")
        zone = spec[equals + 1:space] if space >= 0 else spec[equals + 1:]
        try:
            if zone not in ("", "UTC", "Local"):
                zoneinfo.ZoneInfo(zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise CronError(f"provided bad location {zone}: unknown time zone {zone}") from None
        spec = spec[space:].strip() if space >= 0 else ""
    if spec.startswith("@"):
        if spec.startswith("@every "):
            duration = spec[len("@every "):]
            try:
                _check_go_duration(duration)
            except CronError as exc:
                raise CronError(f"failed to parse duration {spec}: {exc}") from None
            return
        if spec not in _DESCRIPTORS:
            raise CronError(f"unrecognized descriptor: {spec}")
        return
    fields = spec.split()
    if len(fields) != len(_FIELDS):
        raise CronError(f"expected exactly {len(_FIELDS)} fields, found {len(fields)}: [{' '.join(fields)}]")
    for text, bounds in zip(fields, _FIELDS, strict=True):
        for expr in (part for part in text.split(",") if part):
            _check_range(expr, bounds)
