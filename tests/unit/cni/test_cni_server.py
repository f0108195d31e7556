"""The resident server's wire format, and a real round trip through the installed shim (no root)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from kubelite.cni.executables import FALLBACK_NAME, PLUGIN_NAMES, SHIM_BINARY, install_plugins, socket_path
from kubelite.cni.server import CNIServer, decode_request, encode_request


def test_request_encoding_round_trips() -> None:
    env = {"CNI_COMMAND": "ADD", "CNI_ARGS": "A=1;B=2"}
    assert decode_request(encode_request("bridge", env, b'{"x": 1}')) == ("bridge", env, b'{"x": 1}')
    assert decode_request(encode_request("loopback", {}, b"")) == ("loopback", {}, b"")


@pytest.mark.parametrize("data", [b"bridge", b"bridge\0NOEQUALS\0\0{}"])
def test_malformed_requests_are_refused(data: bytes) -> None:
    with pytest.raises(ValueError):
        decode_request(data)


def run_plugin(path: Path, env: dict[str, str], stdin: bytes = b"") -> tuple[int, dict[str, object]]:
    done = subprocess.run([str(path)], input=stdin, env=env, capture_output=True, timeout=30, check=False)
    return done.returncode, json.loads(done.stdout)


@pytest.mark.parametrize("compiled", [pytest.param(True, id="c-shim"), pytest.param(False, id="python-shim")])
def test_shim_talks_to_the_server_and_falls_back_without_it(tmp_path: Path, compiled: bool) -> None:
    if compiled and not SHIM_BINARY.is_file():
        pytest.skip("the C shim was not built (no compiler at install time)")
    bin_dir = tmp_path / "cni" / "bin"
    assert install_plugins(bin_dir=bin_dir, compiled=compiled) is compiled
    assert {p.name for p in bin_dir.iterdir()} == {*PLUGIN_NAMES, FALLBACK_NAME}
    env = {"CNI_COMMAND": "VERSION", "PATH": "/usr/bin:/bin"}
    # no server: the fallback answers in-process
    assert run_plugin(bin_dir / "bridge", env)[1]["supportedVersions"]
    server = CNIServer(socket_path=socket_path(bin_dir), workers=2)
    server.start()
    try:
        code, body = run_plugin(bin_dir / "loopback", env)
        assert code == 0 and "1.0.0" in body["supportedVersions"]  # type: ignore[operator]
        # errors travel with their exit code
        code, body = run_plugin(bin_dir / "bridge", {"CNI_COMMAND": "ADD", "PATH": "/usr/bin:/bin"}, b"{}")
        assert code == 1 and body["code"] == 4
    finally:
        server.stop()
    assert not socket_path(bin_dir).exists()
