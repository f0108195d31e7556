"""``resource.Quantity``: the fixed-point numbers of resource requests, limits and capacities.

Design
------
A :class:`Quantity` is an exact decimal value (a :class:`decimal.Decimal`, never a float) plus the
*format* it was written in, exactly as upstream's ``k8s.io/apimachinery/pkg/api/resource``:

* :meth:`Quantity.parse` ports upstream's ``ParseQuantity`` scanner character by character, so the
  same strings are accepted, the same errors are returned (:data:`ERR_FORMAT_WRONG`,
  :data:`ERR_NUMERIC`, :data:`ERR_SUFFIX`) and the same rounding happens: anything finer than one
  nano-unit is rounded *up, away from zero* to the next nano-unit ("if you asked for some, you get
  some"), BinarySI values are capped at 2^63-1 in magnitude, and a BinarySI value between 0 and 1
  becomes DecimalSI.
* :meth:`Quantity.canonical` is upstream's ``CanonicalizeBytes``: no fractional digits, the largest
  suffix of the quantity's format that loses nothing ("1000m" -> "1", "0.5" -> "500m",
  "1024Mi" -> "1Gi", "1.5Gi" -> "1536Mi", "1e3" stays "1e3" because DecimalExponent is kept).
* ``str(q)`` is upstream's ``String()``, which is what the API server writes on the wire: the
  canonical form, except that a string upstream's fast parser deems already canonical is echoed
  verbatim (so "+1", "01", "1.500" and "1." come back exactly as written, as they do from a real
  API server). Every arithmetic result drops that remembered text.

Quantities are immutable values. Equality, ordering and hashing look at the numeric value only
(upstream ``Cmp``/``Equal``); ``1Gi == 1073741824``. ``a + b`` and ``a - b`` keep the format of
``a`` unless ``a`` is zero, in which case they take ``b``'s (upstream ``Add``/``Sub``).

Deliberate differences from upstream, each fixing a value-corrupting bug rather than a quirk:

* A DecimalSI value whose canonical exponent has no SI suffix (>= 10^21) is written in
  DecimalExponent form ("1e21"), not as the bare mantissa "1" (kubernetes/kubernetes#140459,
  merged upstream after the reference release); likewise a BinarySI value beyond "Ei" falls back
  to the decimal forms.
* A canonical exponent is kept within int32 by moving zeros back into the mantissa, so that what
  we write parses back to the same value (kubernetes/kubernetes#142156).
* :meth:`Quantity.value`, :meth:`Quantity.milli_value` and :meth:`Quantity.scaled_value` return
  exact Python ints, always rounded away from zero; upstream wraps around on int64 overflow and,
  for a few negative values held in its big-decimal representation, rounds toward zero instead.

The reference is release 1.34 of ``k8s.io/apimachinery`` (unchanged in this file since 1.32); all
parse results and wire strings were compared with kubectl 1.32's Go code on ~4000 inputs.

Upstream truncates a parsed exponent to int32 ("1e4294967296" is 1) and we do the same, so both
servers read every string as the same number.
"""

from __future__ import annotations

import math
from decimal import (
    MAX_EMAX,
    MAX_PREC,
    MIN_EMIN,
    ROUND_UP,
    Context,
    Decimal,
    Inexact,
    InvalidOperation,
)
from enum import StrEnum
from typing import Final, final

__all__ = [
    "ERR_FORMAT_WRONG",
    "ERR_NUMERIC",
    "ERR_SUFFIX",
    "MAX_MILLI_VALUE",
    "Quantity",
    "QuantityError",
    "QuantityFormat",
]


class QuantityFormat(StrEnum):
    """How a quantity is written; upstream's ``resource.Format`` values."""

    DECIMAL_EXPONENT = "DecimalExponent"  # 12e6
    BINARY_SI = "BinarySI"  # 12Mi (12 * 2^20)
    DECIMAL_SI = "DecimalSI"  # 12M (12 * 10^6)


# Upstream's splitREString: only quoted in the error message, the scanner below does the work.
SPLIT_RE_STRING: Final = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
ERR_FORMAT_WRONG: Final = "quantities must match the regular expression '" + SPLIT_RE_STRING + "'"
ERR_NUMERIC: Final = "unable to parse numeric part of quantity"
ERR_SUFFIX: Final = "unable to parse quantity's suffix"

_INT64_MAX: Final = (1 << 63) - 1
_INT32_MIN: Final = -(1 << 31)
# The largest multiple of 3 an int32 exponent can hold: canonical exponents are multiples of 3.
_MAX_CANONICAL_EXPONENT: Final = 2_147_483_646
# Upstream maxInt64Factors: decimal digits an int64 always holds; decides the fast parse path.
_MAX_INT64_FACTORS: Final = 18
_NANO: Final = -9

MAX_MILLI_VALUE: Final = _INT64_MAX // 1000
"""Upstream ``MaxMilliValue``: the largest ``value()`` whose ``milli_value()`` fits an int64."""

# Exact decimal arithmetic: precision and exponent range as large as the decimal module allows,
# and any rounding is an error rather than a silent change of value.
_EXACT: Final = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN, traps=[InvalidOperation, Inexact])
# The same, for the one place that rounds on purpose (to nano-units, or RoundUp to a scale).
_ROUNDING: Final = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN, traps=[InvalidOperation])
# Refuse arithmetic whose exact result would need more digits than this: "1e2000000000 + 1n" is
# exact in principle but would need two billion digits (upstream's big.Int would try).
_MAX_RESULT_DIGITS: Final = 100_000

_DECIMAL_SUFFIXES: Final[dict[str, int]] = {
    "n": -9,
    "u": -6,
    "m": -3,
    "": 0,
    "k": 3,
    "M": 6,
    "G": 9,
    "T": 12,
    "P": 15,
    "E": 18,
}
_BINARY_SUFFIXES: Final[dict[str, int]] = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL_SUFFIX_BY_EXPONENT: Final = {exp: suffix for suffix, exp in _DECIMAL_SUFFIXES.items()}
_BINARY_SUFFIX_BY_POWER: Final = {exp // 10: suffix for suffix, exp in _BINARY_SUFFIXES.items()}
_SUFFIX_CHARS: Final = frozenset("eEinumkKMGTP")
_DIGITS: Final = frozenset("0123456789")


class QuantityError(ValueError):
    """A string (or number) that is not a quantity; the message is upstream's error text."""


def _int32(value: int) -> int:
    """Go's ``int32(v)`` conversion: keep the low 32 bits, two's complement."""
    return ((value - _INT32_MIN) % (1 << 32)) + _INT32_MIN


def _go_parse_int64(text: str) -> int | None:
    """Go ``strconv.ParseInt(text, 10, 64)``: optional sign, ASCII digits, int64 range."""
    body = text[1:] if text[:1] in ("+", "-") else text
    if not body or not set(body) <= _DIGITS or len(body.lstrip("0")) > 19:
        return None  # (more than 19 significant digits never fit; also keeps int() cheap)
    value = int(text)
    if not -_INT64_MAX - 1 <= value <= _INT64_MAX:
        return None
    return value


def _interpret_suffix(suffix: str) -> tuple[int, int, QuantityFormat] | None:
    """Upstream ``quantitySuffixer.interpret``: (base, exponent, format) or None."""
    if suffix in _DECIMAL_SUFFIXES:
        return 10, _DECIMAL_SUFFIXES[suffix], QuantityFormat.DECIMAL_SI
    if suffix in _BINARY_SUFFIXES:
        return 2, _BINARY_SUFFIXES[suffix], QuantityFormat.BINARY_SI
    if len(suffix) > 1 and suffix[0] in "eE":
        parsed = _go_parse_int64(suffix[1:])
        if parsed is None:
            return None
        return 10, _int32(parsed), QuantityFormat.DECIMAL_EXPONENT
    return None


class _Scanned:
    """What upstream's ``parseQuantityString`` returns (minus the error)."""

    __slots__ = ("denom", "num", "positive", "suffix", "value")

    def __init__(self, *, positive: bool, value: str, num: str, denom: str, suffix: str) -> None:
        self.positive = positive
        self.value = value
        self.num = num
        self.denom = denom
        self.suffix = suffix


def _scan(text: str) -> _Scanned:
    """Port of upstream ``parseQuantityString``; raises :class:`QuantityError` (format wrong)."""
    positive = True
    pos = 0
    end = len(text)
    if pos < end and text[0] in "+-":
        positive = text[0] == "+"
        pos += 1
    # Leading zeros are dropped from the numerator; a string of only zeros is zero.
    while pos < end and text[pos] == "0":
        pos += 1
    if pos >= end:
        return _Scanned(positive=positive, value="0", num="0", denom="", suffix="")
    start = pos
    while pos < end and text[pos] in _DIGITS:
        pos += 1
    if pos >= end:
        return _Scanned(positive=positive, value=text, num=text[start:], denom="", suffix="")
    num = text[start:pos] or "0"
    denom = ""
    if text[pos] == ".":
        pos += 1
        denom_start = pos
        while pos < end and text[pos] in _DIGITS:
            pos += 1
        denom = text[denom_start:pos]
        if pos >= end:
            return _Scanned(positive=positive, value=text, num=num, denom=denom, suffix="")
    value = text[:pos]
    # The suffix: letters from the suffix alphabet, then an optional sign and digits (exponent).
    suffix_start = pos
    while pos < end and text[pos] in _SUFFIX_CHARS:
        pos += 1
    if pos < end and text[pos] in "+-":
        pos += 1
    while pos < end and text[pos] in _DIGITS:
        pos += 1
    if pos < end:
        raise QuantityError(ERR_FORMAT_WRONG)
    return _Scanned(positive=positive, value=value, num=num, denom=denom, suffix=text[suffix_start:])


def _check_result_size(value: Decimal) -> Decimal:
    if len(value.as_tuple().digits) > _MAX_RESULT_DIGITS:
        raise OverflowError(f"quantity arithmetic result needs more than {_MAX_RESULT_DIGITS} digits")
    return value


def _exact_add(left: Decimal, right: Decimal) -> Decimal:
    # The digits an exact sum needs: from the highest digit of either operand down to the lowest.
    lo = min(_exponent(left), _exponent(right))
    hi = max(left.adjusted(), right.adjusted())
    if (left and right) and hi - lo + 2 > _MAX_RESULT_DIGITS:
        raise OverflowError(f"quantity arithmetic result needs more than {_MAX_RESULT_DIGITS} digits")
    return _check_result_size(_EXACT.add(left, right))


def _exponent(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)  # finite decimals only; NaN/Infinity never get in
    return exponent


def _round_away(value: Decimal, exponent: int) -> Decimal:
    """``value`` rounded up (away from zero) to a multiple of ``10**exponent``; exact if already one."""
    if _exponent(value) >= exponent:
        return value
    return value.quantize(Decimal((0, (1,), exponent)), rounding=ROUND_UP, context=_ROUNDING)


def _scaled_int(value: Decimal, scale: int) -> int:
    """ceil(|value| / 10**scale) with value's sign: upstream ``ScaledValue`` rounding away from zero."""
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    shift = exponent - scale
    if not any(digits):
        return 0
    if shift < -len(digits):
        # |value| / 10**scale is below one: rounding away from zero gives one unit.
        return -1 if sign else 1
    if len(digits) > 4000 or shift > 4000:
        raise OverflowError(f"quantity {value} is too large for an integer value")
    coefficient = int("".join(map(str, digits)))
    power: int = 10 ** abs(shift)
    if shift >= 0:
        result = coefficient * power
    else:
        quotient, remainder = divmod(coefficient, power)
        result = quotient + (1 if remainder else 0)
    return -result if sign else result


def _base10_canonical(value: Decimal) -> tuple[str, int]:
    """Mantissa digits and an exponent that is a multiple of 3: upstream ``AsCanonicalBytes``."""
    sign, digit_tuple, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple))
    stripped = digits.rstrip("0")
    exponent += len(digits) - len(stripped)
    digits = stripped
    # Move the exponent down to a multiple of three (10^3 steps are what the suffixes name).
    while exponent % 3:
        digits += "0"
        exponent -= 1
    if exponent > _MAX_CANONICAL_EXPONENT:
        steps = (exponent - _MAX_CANONICAL_EXPONENT) // 3
        digits += "000" * steps
        exponent -= 3 * steps
    return ("-" if sign else "") + digits, exponent


def _canonicalize(value: Decimal, fmt: QuantityFormat) -> str:
    """Upstream ``CanonicalizeBytes`` (with the suffix-overflow fallbacks described above)."""
    if not value:
        return "0"
    if fmt is QuantityFormat.BINARY_SI:
        # Small or fractional BinarySI values are written in DecimalSI: "1.5Ki" is "1536", "0.5Ki" "512".
        if value.adjusted() > 4000 or -1024 < value < 1024 or _round_away(value, 0) != value:
            fmt = QuantityFormat.DECIMAL_SI
        else:
            number = int(value)
            magnitude, power = abs(number), 0
            while magnitude >= 1024 and magnitude % 1024 == 0:
                magnitude //= 1024
                power += 1
            if power in _BINARY_SUFFIX_BY_POWER or power == 0:
                suffix = _BINARY_SUFFIX_BY_POWER.get(power, "")
                return ("-" if number < 0 else "") + str(magnitude) + suffix
            fmt = QuantityFormat.DECIMAL_SI
    mantissa, exponent = _base10_canonical(value)
    if fmt is QuantityFormat.DECIMAL_SI and exponent in _DECIMAL_SUFFIX_BY_EXPONENT:
        return mantissa + _DECIMAL_SUFFIX_BY_EXPONENT[exponent]
    return mantissa if exponent == 0 else f"{mantissa}e{exponent}"


def _parse(text: str) -> tuple[Decimal, QuantityFormat, str | None]:
    """Upstream ``ParseQuantity``: (exact value, format, the text to echo or None)."""
    if not text:
        raise QuantityError(ERR_FORMAT_WRONG)
    if text == "0":
        return Decimal(0), QuantityFormat.DECIMAL_SI, "0"
    scanned = _scan(text)
    interpreted = _interpret_suffix(scanned.suffix)
    if interpreted is None:
        raise QuantityError(ERR_SUFFIX)
    base, exponent, fmt = interpreted

    # Upstream first tries an int64 fast path; only that path may remember the input text, and the
    # slow path (inf.Dec.SetString) rejects a number part without digits (".e-10"), so mirror it.
    if fmt is QuantityFormat.BINARY_SI:
        scale = 0
        if exponent >= 0 and not scanned.denom:
            mantissa = 1 << exponent
            # 1Mi (2^20) has ~6 digits of decimal precision: exponent*3/10 digits of headroom used.
            precision = 15 - len(scanned.num) - (exponent * 3 // 10) - 1
        else:
            mantissa = 1
            precision = -1
    else:
        scale = exponent
        mantissa = 1
        precision = _MAX_INT64_FACTORS - (len(scanned.num) + len(scanned.denom))
    echo: str | None = None
    fast = False
    if precision >= 0:
        scale -= len(scanned.denom)
        if scale >= _NANO:
            shifted = scanned.num + scanned.denom
            unsigned = int(shifted)
            if unsigned * mantissa <= _INT64_MAX:
                fast = True
                if fmt is QuantityFormat.BINARY_SI:
                    if exponent % 10 == 0 and unsigned & 0x07 != 0:
                        echo = text
                elif scale % 3 == 0 and not shifted.endswith("000") and shifted[0] != "0":
                    echo = text
    if not fast and not any(ch in _DIGITS for ch in scanned.value):
        raise QuantityError(ERR_NUMERIC)

    digits = tuple(int(ch) for ch in scanned.num + scanned.denom)
    if base == 10:
        amount = Decimal((0, digits, exponent - len(scanned.denom)))
    else:
        amount = _EXACT.multiply(Decimal((0, digits, -len(scanned.denom))), Decimal(1 << exponent))
    if amount:
        # Round non-zero values up to the smallest representable amount (one nano-unit).
        amount = _round_away(amount, _NANO)
    if fmt is QuantityFormat.BINARY_SI and amount > _INT64_MAX:
        amount = Decimal(_INT64_MAX)
    if fmt is QuantityFormat.BINARY_SI and 0 < amount < 1:
        fmt = QuantityFormat.DECIMAL_SI
    if not scanned.positive:
        amount = amount.copy_negate()
    return amount, fmt, echo


@final
class Quantity:
    """An exact resource amount and the format it is written in; see the module docstring."""

    __slots__ = ("_echo", "_format", "_value")

    _value: Decimal
    _format: QuantityFormat
    _echo: str | None

    def __init__(self, value: Decimal | int = 0, fmt: QuantityFormat = QuantityFormat.DECIMAL_SI) -> None:
        """The exact ``value`` (no rounding; use :meth:`parse` for user input) in format ``fmt``."""
        if isinstance(value, bool) or not isinstance(value, int | Decimal):
            raise TypeError(f"Quantity value must be an int or Decimal, not {type(value).__name__}")
        decimal_value = Decimal(value)
        if not decimal_value.is_finite():
            raise QuantityError(f"quantity must be a finite number, not {value}")
        self._value = decimal_value
        self._format = QuantityFormat(fmt)
        self._echo = None

    # -- construction -----------------------------------------------------------------------------

    @classmethod
    def parse(cls, text: str | int | float | Quantity) -> Quantity:
        """Upstream ``ParseQuantity``; ints and floats are parsed from their decimal text.

        Raises :class:`QuantityError` with upstream's message. A float is read from its shortest
        round-trip text (``repr``), which is what a JSON number of that value looks like.
        """
        if isinstance(text, Quantity):
            return text
        if isinstance(text, bool):
            raise QuantityError(ERR_FORMAT_WRONG)
        if isinstance(text, int):
            text = str(text)
        elif isinstance(text, float):
            if not math.isfinite(text):
                raise QuantityError(ERR_FORMAT_WRONG)
            text = repr(text)
        elif not isinstance(text, str):
            raise QuantityError(ERR_FORMAT_WRONG)
        value, fmt, echo = _parse(text)
        quantity = cls(value, fmt)
        quantity._echo = echo
        return quantity

    @classmethod
    def from_milli(cls, value: int, fmt: QuantityFormat = QuantityFormat.DECIMAL_SI) -> Quantity:
        """Upstream ``NewMilliQuantity``: ``value`` thousandths."""
        return cls(Decimal((0 if value >= 0 else 1, _digits(abs(value)), -3)), fmt)

    @classmethod
    def from_scaled(cls, value: int, scale: int) -> Quantity:
        """Upstream ``NewScaledQuantity``: ``value * 10**scale`` in DecimalSI."""
        return cls(Decimal((0 if value >= 0 else 1, _digits(abs(value)), scale)), QuantityFormat.DECIMAL_SI)

    # -- accessors --------------------------------------------------------------------------------

    @property
    def format(self) -> QuantityFormat:
        return self._format

    def with_format(self, fmt: QuantityFormat) -> Quantity:
        """The same value written in another format (drops remembered input text)."""
        return Quantity(self._value, fmt)

    def as_decimal(self) -> Decimal:
        """The exact value."""
        return self._value

    def as_int64(self) -> int | None:
        """The value when it is an integer that fits an int64 (upstream ``AsInt64`` intent), else None."""
        if self._value != self._value.to_integral_value() or self._value.adjusted() > 19:
            return None
        number = int(self._value)
        return number if -_INT64_MAX - 1 <= number <= _INT64_MAX else None

    def as_approximate_float(self) -> float:
        """The value as a float, possibly inexact (upstream ``AsApproximateFloat64``)."""
        return float(self._value)  # saturates to +/-inf beyond the float range

    def value(self) -> int:
        """The value rounded up, away from zero, to an integer (upstream ``Value``)."""
        return _scaled_int(self._value, 0)

    def milli_value(self) -> int:
        """ceil(value * 1000), away from zero (upstream ``MilliValue``)."""
        return _scaled_int(self._value, -3)

    def scaled_value(self, scale: int) -> int:
        """ceil(value / 10**scale), away from zero (upstream ``ScaledValue``; Milli is -3)."""
        return _scaled_int(self._value, scale)

    def sign(self) -> int:
        return (self._value > 0) - (self._value < 0)

    def is_zero(self) -> bool:
        return not self._value

    def cmp(self, other: Quantity | int) -> int:
        """-1, 0 or 1 as upstream ``Cmp``/``CmpInt64``."""
        other_value = other._value if isinstance(other, Quantity) else Decimal(other)
        return (self._value > other_value) - (self._value < other_value)

    def round_up(self, scale: int) -> tuple[Quantity, bool]:
        """The value rounded away from zero to a multiple of ``10**scale``, and whether that was exact.

        Upstream ``RoundUp`` (which mutates); the result keeps the format.
        """
        rounded = _round_away(self._value, scale)
        return Quantity(rounded, self._format), rounded == self._value

    # -- arithmetic -------------------------------------------------------------------------------

    def __add__(self, other: Quantity) -> Quantity:
        if not isinstance(other, Quantity):
            return NotImplemented
        fmt = other._format if self.is_zero() else self._format
        return Quantity(_exact_add(self._value, other._value), fmt)

    def __sub__(self, other: Quantity) -> Quantity:
        if not isinstance(other, Quantity):
            return NotImplemented
        fmt = other._format if self.is_zero() else self._format
        return Quantity(_exact_add(self._value, other._value.copy_negate()), fmt)

    def __neg__(self) -> Quantity:
        return Quantity(self._value.copy_negate(), self._format)

    def mul(self, factor: int) -> Quantity:
        """The value times an integer (upstream ``Mul``; exact here, so there is no overflow flag)."""
        if isinstance(factor, bool) or not isinstance(factor, int):
            raise TypeError(f"a quantity can only be multiplied by an int, not {type(factor).__name__}")
        return Quantity(_check_result_size(_EXACT.multiply(self._value, Decimal(factor))), self._format)

    # -- comparison -------------------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Quantity):
            return NotImplemented
        return self._value == other._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __lt__(self, other: Quantity) -> bool:
        if not isinstance(other, Quantity):
            return NotImplemented
        return self._value < other._value

    def __le__(self, other: Quantity) -> bool:
        if not isinstance(other, Quantity):
            return NotImplemented
        return self._value <= other._value

    def __gt__(self, other: Quantity) -> bool:
        if not isinstance(other, Quantity):
            return NotImplemented
        return self._value > other._value

    def __ge__(self, other: Quantity) -> bool:
        if not isinstance(other, Quantity):
            return NotImplemented
        return self._value >= other._value

    # -- text -------------------------------------------------------------------------------------

    def canonical(self) -> str:
        """Upstream ``CanonicalizeBytes`` as one string: the canonical form of value and format."""
        return _canonicalize(self._value, self._format)

    def __str__(self) -> str:
        """Upstream ``String()``/``MarshalJSON``: the wire form (see the module docstring)."""
        return self._echo if self._echo is not None else self.canonical()

    def __repr__(self) -> str:
        return f"Quantity({str(self)!r}, {self._format.value})"


def _digits(number: int) -> tuple[int, ...]:
    return tuple(int(ch) for ch in str(number))
