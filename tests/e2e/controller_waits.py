"""Polling helpers shared by the controller e2e tests (wait on state with a timeout, never sleep blindly)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from e2e_harness import Server

Obj = dict[str, Any]


def wait_for(probe: Callable[[], Any], *, what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def get_json(server: Server, *args: str) -> Obj:
    result: Obj = json.loads(server.kubectl("get", *args, "-o", "json").stdout)
    return result


def exists(server: Server, *args: str) -> bool:
    return server.kubectl("get", *args, check=False).returncode == 0


def dump_state(server: Server) -> None:
    """Print the cluster's workload state and the server log tail (pytest shows it when a test failed)."""
    shown = server.kubectl("get", "deploy,rs,pods,jobs,nodes", "-A", "-o", "wide", check=False)
    print(shown.stdout, shown.stderr)
    print("\n".join(line for line in server.log.read_text().splitlines()[-80:]
                    if "unable to schedule" not in line))
