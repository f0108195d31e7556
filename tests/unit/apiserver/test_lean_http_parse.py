"""The lean HTTP/1.1 edge reads a request head only as aiohttp's own parser reads it.

``http1_server._parse_head`` may refuse any head (the connection then goes to aiohttp, which answers
it); what it accepts, aiohttp's parser (the C one the server runs) must accept too, with the same
method, path, query string, headers, body length and keep-alive. Heads are built from parts that
include what HTTP parsers disagree on: odd methods and versions, percent signs and fragments,
blanks around names and values, control and non-ASCII bytes, folded lines, framing headers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from aiohttp.base_protocol import BaseProtocol
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.http_parser import HttpRequestParser
from hypothesis import example, given, settings
from hypothesis import strategies as st

from kubelite.controlplane.apiserver import http1_server

# each part is mostly what a client sends (so that many heads are read) and sometimes what parsers disagree on
LEAN_METHODS = st.sampled_from([b"GET", b"POST", b"PUT", b"PATCH", b"DELETE"])
METHODS = st.one_of(LEAN_METHODS, LEAN_METHODS, LEAN_METHODS, st.sampled_from([b"HEAD", b"OPTIONS", b"get", b"G@T"]))
SEGMENT = st.one_of(st.text(alphabet="abc-._~:@!$&'()*+,;=", max_size=6),
                    st.text(alphabet="abc-.%2F\u00e9 #\t", min_size=1, max_size=4)).map(lambda s: s.encode("utf-8"))
QUERY = st.one_of(st.text(alphabet="abcwatch=&+/", max_size=12),
                  st.text(alphabet="ab=&%3D ?#\u00e9", max_size=8)).map(lambda s: s.encode("utf-8"))
ORIGIN = st.builds(lambda segs, q: b"/" + b"/".join(segs) + (b"?" + q if q is not None else b""),
                   st.lists(SEGMENT, max_size=5), st.none() | QUERY)
TARGETS = st.one_of(ORIGIN, ORIGIN, ORIGIN, st.sampled_from([b"*", b"http://x/api", b"", b"//", b"/api/v1/pods"]))
VERSIONS = st.one_of(st.just(b"HTTP/1.1"), st.just(b"HTTP/1.1"),
                     st.sampled_from([b"HTTP/1.0", b"HTTP/2", b"http/1.1", b"HTTP/1.1 "]))
KNOWN_NAMES = st.sampled_from([b"Accept", b"Content-Type", b"Authorization", b"User-Agent", b"Connection",
                               b"Content-Length", b"Impersonate-User", b"Impersonate-Group", b"X-Y", b"Accept-Encoding",
                               b"Transfer-Encoding", b"Upgrade", b"Expect", b"TE", b"Host"])
NAMES = st.one_of(*[KNOWN_NAMES] * 8,
                  st.text(alphabet="abX-_.!~ :@\u00e9\t", min_size=0, max_size=6).map(lambda s: s.encode("utf-8")))
KNOWN_VALUES = st.sampled_from([b"application/json", b"close", b"keep-alive", b"Keep-Alive, close", b"upgrade",
                                b"chunked", b"12", b"0", b"+3", b"1,1", b"00", b" 7 ", b"Bearer abc.def",
                                b"100-continue", b"a  b", b"\xc3\xa9t\xc3\xa9", b"x\ty", b"", b"gzip"])
VALUES = st.one_of(*[KNOWN_VALUES] * 6, st.binary(max_size=10))
SEPARATORS = st.sampled_from([b": "] * 6 + [b":", b":\t", b": \t ", b" : "])
FOLDS = st.sampled_from([b""] * 12 + [b" ", b"\t"])
HEADERS = st.lists(st.tuples(NAMES, SEPARATORS, VALUES, FOLDS), max_size=6,
                   unique_by=lambda h: h[0].lower()).map(
    lambda hs: [(b"Host", b": ", b"x", b""), *hs])  # a Host first (a second one is a repeat: aiohttp's)


def head_of(method: bytes, target: bytes, version: bytes, headers: list[tuple[bytes, bytes, bytes, bytes]]) -> bytes:
    lines = [method + b" " + target + b" " + version]
    lines += [fold + name + sep + value for name, sep, value, fold in headers]
    return b"\r\n".join(lines)


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def aiohttp_reads(loop: asyncio.AbstractEventLoop, data: bytes) -> object:
    parser = HttpRequestParser(BaseProtocol(loop), loop, 2**16, max_line_size=8190, max_field_size=8190)
    messages, _upgraded, _tail = parser.feed_data(data)
    assert messages, "aiohttp read no request"
    return messages[0][0]


@settings(max_examples=1000, deadline=None)
@given(method=METHODS, target=TARGETS, version=VERSIONS, headers=HEADERS)
@example(method=b"POST", target=b"/api/v1/namespaces/default/pods/p/binding", version=b"HTTP/1.1",
         headers=[(b"Content-Length", b": ", b"3", b""), (b"Host", b": ", b"x", b"")])
@example(method=b"GET", target=b"/api/v1/pods?labelSelector=a%3Db&watch", version=b"HTTP/1.1",
         headers=[(b"Connection", b": ", b"close", b""), (b"Accept", b":", b"application/json ", b""),
                  (b"Host", b": ", b"127.0.0.1:6443", b"")])
def test_what_the_lean_edge_reads_aiohttp_reads_the_same(
        loop: asyncio.AbstractEventLoop, method: bytes, target: bytes, version: bytes,
        headers: list[tuple[bytes, bytes, bytes, bytes]]) -> None:
    head = head_of(method, target, version, headers)
    parsed = http1_server._parse_head(head)
    if parsed is None:
        return  # handed to aiohttp, whatever it makes of it
    lean_method, path, query_string, lean_headers, length, keep_alive = parsed
    try:
        message = aiohttp_reads(loop, head + b"\r\n\r\n" + b"x" * length)
    except HttpProcessingError as exc:
        raise AssertionError(f"the lean edge read a head aiohttp refuses ({exc}): {head!r}") from None
    assert message.method == lean_method  # type: ignore[attr-defined]
    assert message.url.raw_path == path and message.url.path == path  # type: ignore[attr-defined]
    assert message.url.raw_query_string == query_string  # type: ignore[attr-defined]
    assert list(message.headers.items()) == list(lean_headers.items())  # type: ignore[attr-defined]
    assert int(message.headers.get("Content-Length", "0")) == length  # type: ignore[attr-defined]
    assert message.should_close == (not keep_alive)  # type: ignore[attr-defined]
    assert not message.chunked and not message.upgrade  # type: ignore[attr-defined]


def test_heads_the_lean_edge_leaves_to_aiohttp() -> None:
    ok = b"GET /api/v1/pods HTTP/1.1\r\nHost: x"
    assert http1_server._parse_head(ok) is not None
    for head in (b"GET /api/v1/pods HTTP/1.0\r\nHost: x",  # HTTP/1.0
                 b"GET /api/v1/pods HTTP/1.1\r\nAccept: */*",  # no Host
                 b"HEAD /api/v1/pods HTTP/1.1\r\nHost: x",  # not a lean method
                 b"GET /api/v1/p%6fds HTTP/1.1\r\nHost: x",  # percent-decoding is yarl's
                 b"GET /api/v1/pods HTTP/1.1\r\nHost : x",  # a blank before the colon
                 b"GET /api/v1/pods HTTP/1.1\r\nHost: x\r\n y",  # a folded line
                 b"GET /api/v1/pods HTTP/1.1\r\nX: a\x01b",  # a control character
                 b"POST /api/v1/pods HTTP/1.1\r\nTransfer-Encoding: chunked",
                 b"POST /api/v1/pods HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1",
                 b"POST /api/v1/pods HTTP/1.1\r\nContent-Length: +1",
                 b"POST /api/v1/pods HTTP/1.1\r\nContent-Length: %d" % (http1_server.MAX_BODY_BYTES + 1),
                 b"GET /api/v1/pods HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket",
                 b"POST /api/v1/pods HTTP/1.1\r\nExpect: 100-continue"):
        assert http1_server._parse_head(head) is None, head


def test_header_lines_are_remembered_and_the_memo_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http1_server, "_header_lines", {})
    monkeypatch.setattr(http1_server, "HEADER_MEMO_SIZE", 8)
    for n in range(20):
        parsed = http1_server._parse_head(b"GET / HTTP/1.1\r\nHost: x\r\nX-N: %d\r\nBad Line" % n)
        assert parsed is None
        parsed = http1_server._parse_head(b"GET / HTTP/1.1\r\nHost: x\r\nX-N: %d" % n)
        assert parsed is not None and parsed[3]["X-N"] == str(n)
        assert len(http1_server._header_lines) <= 8
    assert http1_server._header_lines[b"X-N: 19"] == ("X-N", "19", "x-n")
    long_line = b"X-Long: " + b"v" * http1_server.HEADER_MEMO_LINE
    parsed = http1_server._parse_head(b"GET / HTTP/1.1\r\nHost: x\r\n" + long_line)
    assert parsed is not None and parsed[3]["X-Long"] == "v" * http1_server.HEADER_MEMO_LINE
    assert long_line not in http1_server._header_lines  # parsed, not remembered
