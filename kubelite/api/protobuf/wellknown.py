"""The JSON forms of apimachinery's hand-marshalled time types, exactly as Go writes and reads them.

Design
------
* ``metav1.Time`` travels as a Timestamp (seconds, nanos) but its JSON is RFC 3339 at second
  precision in UTC (``"2024-01-02T03:04:05Z"``); upstream's proto marshaller sends ``nanos = 0`` and its
  unmarshaller drops any nanos it gets (time_proto.go), so both directions here work in whole seconds.
* ``metav1.MicroTime`` keeps microseconds: JSON ``"2024-01-02T03:04:05.000000Z"`` (always six digits),
  proto nanos truncated toward zero to a whole microsecond (micro_time_proto.go).
* Go's zero ``time.Time`` (0001-01-01T00:00:00Z) is "unset": its JSON is ``null`` and its proto form
  is empty. :data:`ZERO_TIME_UNIX` is that instant in Unix seconds.
* ``metav1.Duration`` is a count of nanoseconds whose JSON is Go's ``time.Duration.String()``
  (``"1h2m3.5s"``); :func:`format_duration` and :func:`parse_duration` port Go's ``String`` and
  ``ParseDuration`` (including its float arithmetic for fractions and its overflow errors).

Parsing accepts what Go's ``time.Parse(time.RFC3339, ...)`` accepts (a fraction after the seconds is
allowed even though the layout has none, digits past nanoseconds are ignored, ``Z`` or a ``±hh:mm``
offset). Instants outside years 1-9999
cannot be written in RFC 3339 and raise :class:`ProtobufError`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Final

from kubelite.api.protobuf.wire import ProtobufError

ZERO_TIME_UNIX: Final = -62135596800  # time.Time{} (0001-01-01T00:00:00Z) in Unix seconds
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MIN_UNIX: Final = ZERO_TIME_UNIX  # 0001-01-01T00:00:00Z
_MAX_UNIX: Final = 253402300799  # 9999-12-31T23:59:59Z
_NANOS_PER_SECOND: Final = 1_000_000_000

_RFC3339_RE: Final = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:(Z)|([+-])(\d{2}):(\d{2}))", re.ASCII)


def normalize(seconds: int, nanos: int) -> tuple[int, int]:
    """Go's ``time.Unix(sec, nsec)``: carry nanoseconds outside [0, 1e9) into the seconds."""
    carry, nanos = divmod(nanos, _NANOS_PER_SECOND)
    return seconds + carry, nanos


def is_zero_time(seconds: int, nanos: int) -> bool:
    return (seconds, nanos) == (ZERO_TIME_UNIX, 0)


def _utc(seconds: int) -> datetime:
    if not _MIN_UNIX <= seconds <= _MAX_UNIX:
        raise ProtobufError(f"time {seconds} seconds after 1970-01-01T00:00:00Z is outside years 1-9999 "
                            "and cannot be written in RFC 3339")
    return _EPOCH + timedelta(seconds=seconds)


def format_time(seconds: int) -> str:
    """``metav1.Time`` JSON: RFC 3339, UTC, whole seconds."""
    t = _utc(seconds)
    return f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}Z"


def format_micro_time(seconds: int, nanos: int) -> str:
    """``metav1.MicroTime`` JSON: RFC 3339, UTC, exactly six fractional digits."""
    return f"{format_time(seconds)[:-1]}.{nanos // 1000:06d}Z"


def truncate_to_micros(nanos: int) -> int:
    """Go's ``time.Duration(n).Truncate(time.Microsecond)``: toward zero."""
    return nanos - int(_go_rem(nanos, 1000))


def _go_rem(a: int, b: int) -> int:
    """Go's ``%``: the remainder takes the sign of the dividend."""
    r = abs(a) % b
    return -r if a < 0 else r


def parse_time(text: str) -> tuple[int, int]:
    """Go's ``time.Parse(time.RFC3339, text)`` as Unix (seconds, nanos)."""
    match = _RFC3339_RE.fullmatch(text)
    if match is None:
        raise ProtobufError(f"time {text!r} is not in RFC 3339 form, e.g. \"2024-01-02T03:04:05Z\"")
    year, month, day, hour, minute, second = (int(g) for g in match.group(1, 2, 3, 4, 5, 6))
    fraction = (match.group(7) or "")[:9]  # Go ignores digits past nanoseconds
    nanos = int(fraction.ljust(9, "0")) if fraction else 0
    try:
        if match.group(8):
            tz = UTC
        else:
            offset_hours, offset_minutes = int(match.group(10)), int(match.group(11))
            if offset_hours > 23 or offset_minutes > 59:
                raise ValueError("time zone offset out of range")
            offset = timedelta(hours=offset_hours, minutes=offset_minutes)
            tz = timezone(-offset if match.group(9) == "-" else offset)
        when = datetime(year, month, day, hour, minute, second, tzinfo=tz)
    except ValueError as exc:
        raise ProtobufError(f"time {text!r} is not a valid RFC 3339 time: {exc}") from None
    seconds = (when - _EPOCH) // timedelta(seconds=1)
    return seconds, nanos


# --------------------------------------------------------------------------------------------------
# time.Duration

_NANOSECOND: Final = 1
_MICROSECOND: Final = 1000
_MILLISECOND: Final = 1000 * _MICROSECOND
_SECOND: Final = 1000 * _MILLISECOND
_MINUTE: Final = 60 * _SECOND
_HOUR: Final = 60 * _MINUTE
_UNITS: Final = {
    "ns": _NANOSECOND, "us": _MICROSECOND, "\u00b5s": _MICROSECOND, "\u03bcs": _MICROSECOND,
    "ms": _MILLISECOND, "s": _SECOND, "m": _MINUTE, "h": _HOUR,
}
_ASCII_DIGITS: Final = frozenset("0123456789")
_INT64_MIN: Final = -(1 << 63)
_INT64_MAX: Final = (1 << 63) - 1


def _fraction(value: int, precision: int) -> tuple[str, int]:
    """Go's ``fmtFrac``: the fraction of value / 10**precision without trailing zeros, and the quotient."""
    quotient, digits = divmod(value, 10**precision)
    if digits == 0:
        return "", quotient
    return "." + str(digits).rjust(precision, "0").rstrip("0"), quotient


def format_duration(nanos: int) -> str:
    """Go's ``time.Duration.String()``: "1h2m3.5s", "1.5ms", "0s"."""
    if not _INT64_MIN <= nanos <= _INT64_MAX:
        raise ProtobufError(f"duration {nanos}ns does not fit in an int64")
    if nanos == 0:
        return "0s"
    sign = "-" if nanos < 0 else ""
    u = abs(nanos)
    if u < _SECOND:
        if u < _MICROSECOND:
            return f"{sign}{u}ns"
        if u < _MILLISECOND:
            frac, whole = _fraction(u, 3)
            return f"{sign}{whole}{frac}\u00b5s"
        frac, whole = _fraction(u, 6)
        return f"{sign}{whole}{frac}ms"
    frac, seconds = _fraction(u, 9)
    text = f"{seconds % 60}{frac}s"
    minutes = seconds // 60
    if minutes:
        text = f"{minutes % 60}m{text}"
        hours = minutes // 60
        if hours:
            text = f"{hours}h{text}"
    return sign + text


def parse_duration(text: str) -> int:
    """Go's ``time.ParseDuration``: "300ms", "-1.5h", "2h45m" as nanoseconds."""
    original = text
    negative = False
    if text[:1] in ("-", "+"):
        negative = text[0] == "-"
        text = text[1:]
    if text == "0":
        return 0
    if not text:
        raise ProtobufError(f"invalid duration {original!r}")
    total = 0
    limit = 1 << 63
    while text:
        # the leading integer, and the fraction: Go stops accumulating digits that would overflow
        i = 0
        while i < len(text) and text[i] in _ASCII_DIGITS:
            i += 1
        leading = text[:i]
        pre = bool(leading)
        value = int(leading) if leading else 0
        if value > limit:
            raise ProtobufError(f"invalid duration {original!r}")
        text = text[i:]
        fraction, scale, post = 0, 1.0, False
        if text.startswith("."):
            text = text[1:]
            i = 0
            overflow = False
            while i < len(text) and text[i] in _ASCII_DIGITS:
                if not overflow:
                    if fraction > (limit - 1) // 10:
                        overflow = True
                    else:
                        candidate = fraction * 10 + int(text[i])
                        if candidate > limit:
                            overflow = True
                        else:
                            fraction = candidate
                            scale *= 10
                i += 1
            post = i > 0
            text = text[i:]
        if not pre and not post:
            raise ProtobufError(f"invalid duration {original!r}")
        i = 0
        while i < len(text) and text[i] != "." and text[i] not in _ASCII_DIGITS:
            i += 1
        unit_name = text[:i]
        text = text[i:]
        if not unit_name:
            raise ProtobufError(f"missing unit in duration {original!r}")
        unit = _UNITS.get(unit_name)
        if unit is None:
            raise ProtobufError(f"unknown unit {unit_name!r} in duration {original!r}; "
                                "allowed: ns, us, \u00b5s, ms, s, m, h")
        if value > limit // unit:
            raise ProtobufError(f"invalid duration {original!r}")
        value *= unit
        if fraction > 0:
            value += int(float(fraction) * (float(unit) / scale))
            if value > limit:
                raise ProtobufError(f"invalid duration {original!r}")
        total += value
        if total > limit:
            raise ProtobufError(f"invalid duration {original!r}")
    if not negative and total > limit - 1:
        raise ProtobufError(f"invalid duration {original!r}")
    return -total if negative else total
