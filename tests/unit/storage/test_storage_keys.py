"""Key checks and prefix -> range arithmetic shared by both backends."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubelite.controlplane.storage.interface import MAX_VALUE_BYTES, ValueTooLargeError
from kubelite.controlplane.storage.keys import (
    check_expected_revision,
    check_key,
    check_prefix,
    check_start_key,
    check_ttl,
    check_value,
    key_range,
    prefix_end,
    prefix_end_bytes,
)


@pytest.mark.parametrize(
    ("prefix", "end"),
    [
        pytest.param("/pods/", "/pods0", id="slash-becomes-zero"),
        pytest.param("/a", "/b", id="letter"),
        pytest.param("/", "0", id="everything"),
        pytest.param("/\U0010ffff", "0", id="max-code-point-dropped"),
        pytest.param("/a\U0010ffff\U0010ffff", "/b", id="several-max-code-points"),
        pytest.param("/\ud7ff", "/\ue000", id="skips-surrogates"),
        pytest.param("\U0010ffff", None, id="unbounded"),
        pytest.param("", None, id="empty-unbounded"),
    ],
)
def test_prefix_end(prefix: str, end: str | None) -> None:
    assert prefix_end(prefix) == end


@pytest.mark.parametrize(
    ("prefix", "end"),
    [
        pytest.param(b"/registry/pods/", b"/registry/pods0", id="plain"),
        pytest.param(b"/a\xff", b"/b", id="carry"),
        pytest.param(b"\xff\xff", b"\x00", id="unbounded-is-nul"),
    ],
)
def test_prefix_end_bytes(prefix: bytes, end: bytes) -> None:
    assert prefix_end_bytes(prefix) == end


# Keys of the shape the API server uses, with some non-ASCII to exercise UTF-8 ordering.
keys = st.text(alphabet=st.sampled_from("/ab-z\u00e9\u4e2d\U0001f600\U0010ffff"), max_size=6).map(lambda s: "/" + s)


@given(prefix=keys, key=keys)
def test_prefix_range_selects_exactly_the_keys_with_the_prefix(prefix: str, key: str) -> None:
    low, high = key_range(prefix)
    inside = low <= key and (high is None or key < high)
    assert inside == key.startswith(prefix)
    # The same range on UTF-8 bytes (how SQLite and etcd compare) selects the same keys.
    kb, pb = key.encode(), prefix.encode()
    hb = prefix_end_bytes(pb)
    assert (pb <= kb and (hb == b"\x00" or kb < hb)) == key.startswith(prefix)


@pytest.mark.parametrize(
    ("prefix", "start_key", "low"),
    [
        pytest.param("/p/", None, "/p/", id="no-start"),
        pytest.param("/p/", "/p/b", "/p/b", id="start-inside"),
        pytest.param("/p/", "/a", "/p/", id="start-before"),
        pytest.param("/p/", "/q", "/q", id="start-after-gives-empty-range"),
    ],
)
def test_key_range_low_bound(prefix: str, start_key: str | None, low: str) -> None:
    assert key_range(prefix, start_key)[0] == low


@pytest.mark.parametrize(
    ("key", "message"),
    [
        pytest.param("pods/a", "must start with '/'", id="relative"),
        pytest.param("/", "must start with '/' and name something", id="root"),
        pytest.param("", "must start with '/'", id="empty"),
        pytest.param("/a\x00", "NUL", id="nul"),
        pytest.param("/\ud800", "not valid Unicode", id="lone-surrogate"),
        pytest.param(b"/a", "must be a str", id="bytes"),
    ],
)
def test_bad_keys_are_refused_with_the_reason(key: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_key(key)


def test_good_keys_and_prefixes_pass() -> None:
    check_key("/pods/default/nginx-\u00e9")
    check_prefix("/")
    check_prefix("/pods/default/")
    check_start_key("/pods/default/a\x00")
    check_start_key("/")


@pytest.mark.parametrize(
    "start_key",
    [pytest.param("a", id="relative"), pytest.param("/a\x00b", id="inner-nul"), pytest.param("\x00", id="only-nul")],
)
def test_bad_start_keys_are_refused(start_key: str) -> None:
    with pytest.raises(ValueError):
        check_start_key(start_key)


@pytest.mark.parametrize(
    ("check", "value"),
    [
        pytest.param(check_ttl, 0, id="ttl-zero"),
        pytest.param(check_ttl, -1, id="ttl-negative"),
        pytest.param(check_ttl, True, id="ttl-bool"),
        pytest.param(check_ttl, 1.5, id="ttl-float"),
        pytest.param(lambda v: check_expected_revision("/a", v), 0, id="expected-zero"),
        pytest.param(lambda v: check_expected_revision("/a", v), "3", id="expected-str"),
    ],
)
def test_bad_numbers_are_refused(check: object, value: object) -> None:
    with pytest.raises(ValueError):
        check(value)  # type: ignore[operator]


def test_value_size_limit() -> None:
    check_value("/a", b"x" * MAX_VALUE_BYTES)
    with pytest.raises(ValueTooLargeError) as err:
        check_value("/a", b"x" * (MAX_VALUE_BYTES + 1))
    assert (err.value.key, err.value.size) == ("/a", MAX_VALUE_BYTES + 1)
    assert str(MAX_VALUE_BYTES) in str(err.value)
