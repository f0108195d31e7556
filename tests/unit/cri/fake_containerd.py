"""A stand-in for the containerd binary, for supervisor tests that run without root.

Invoked as ``fake_containerd.py --config <config.toml>`` like containerd: reads ``grpc.address`` from
the config and serves CRI Version/Status there. Behaviour is chosen through the environment:

* FAKE_CONTAINERD_FAIL_AT_START=1: print an error and exit 1 before serving (a bad config);
* FAKE_CONTAINERD_CRASH_ONCE=<marker>: if <marker> does not exist, create it and exit with code 2
  one second after serving (a crash); later runs keep serving;
* FAKE_CONTAINERD_IGNORE_TERM=1: ignore SIGTERM (a hung daemon, only SIGKILL stops it);
* FAKE_CONTAINERD_PIDS=<file>: append this process's PID to <file>.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import tomllib
from pathlib import Path

import grpc
import grpc.aio

from kubelite.cri import api_pb2, api_pb2_grpc


class Runtime(api_pb2_grpc.RuntimeServiceServicer):
    async def Version(self, request: api_pb2.VersionRequest, context: object) -> api_pb2.VersionResponse:
        return api_pb2.VersionResponse(version=request.version, runtime_name="fake-containerd",
                                       runtime_version=str(os.getpid()), runtime_api_version="v1")

    async def Status(self, request: api_pb2.StatusRequest, context: object) -> api_pb2.StatusResponse:
        ready = api_pb2.RuntimeCondition(type="RuntimeReady", status=True)
        return api_pb2.StatusResponse(status=api_pb2.RuntimeStatus(conditions=[ready]))


async def serve(address: str) -> None:
    server = grpc.aio.server()
    api_pb2_grpc.add_RuntimeServiceServicer_to_server(Runtime(), server)
    server.add_insecure_port(f"unix://{address}")
    await server.start()
    marker = os.environ.get("FAKE_CONTAINERD_CRASH_ONCE")
    if marker and not Path(marker).exists():
        Path(marker).touch()
        await asyncio.sleep(1)
        os._exit(2)
    await server.wait_for_termination()


def main() -> None:
    if os.environ.get("FAKE_CONTAINERD_IGNORE_TERM"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if pids := os.environ.get("FAKE_CONTAINERD_PIDS"):
        with open(pids, "a") as f:
            f.write(f"{os.getpid()}\n")
    config = Path(sys.argv[sys.argv.index("--config") + 1])
    if os.environ.get("FAKE_CONTAINERD_FAIL_AT_START"):
        print(f'containerd: failed to load TOML from {config}: invalid plugin key', file=sys.stderr)
        sys.exit(1)
    address = tomllib.loads(config.read_text())["grpc"]["address"]
    asyncio.run(serve(address))


if __name__ == "__main__":
    main()
