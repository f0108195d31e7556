"""``kubelite agent``: a node's containerd, then its components, concurrently, until SIGTERM.

Design
------
`run_agent` (the CLI's entry) sets up logging and uvloop and runs `agent_main`:

1. **containerd**: with ``container_runtime_endpoint`` the agent uses that runtime as it is;
   otherwise it writes its own config under ``<data-dir>/agent/containerd`` (CNI dirs from
   `AgentConfig`) and starts it with `ContainerdSupervisor`, which restarts it when it dies.
2. **images**: kubelite's pause image is imported when the runtime lacks it, and every archive in
   ``<data-dir>/agent/images`` (``*.tar``) is imported (airgap images), as k3s does, at start and
   when one appears or changes later (checked every 5 s).
3. **components**: each entry of `COMPONENTS` names a module and an ``async def run_xxx(*, config,
   client, ...)`` that runs until cancelled; they run in one `asyncio.TaskGroup`, so one that fails
   stops the agent (the supervisor, or `kubelite server`, restarts it). A component takes the keyword
   arguments it declares from ``config``, ``client`` (an `APIClient`) and ``runtime`` (a
   `RuntimeClient`). Adding a component is one line in `COMPONENTS`.
4. **SIGTERM/SIGINT** cancel the group; containers keep running (a restarted agent adopts them) and
   containerd is stopped only when this agent started it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import importlib
import inspect
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final

from kubelite.agent.config import AgentConfig
from kubelite.client import APIClient, load_kubeconfig
from kubelite.client.bootstrap import CLIENT_CA_NAME, BootstrapError, bootstrap_node_credentials, ensure_client_ca
from kubelite.cri import (
    PAUSE_IMAGE,
    ContainerdConfig,
    ContainerdSupervisor,
    ImageError,
    RuntimeClient,
    import_archive,
    pause_image_archive,
)

log = logging.getLogger(__name__)

COMPONENTS: Final[tuple[tuple[str, str, str], ...]] = (  # (name, module, function)
    ("node-status", "kubelite.agent.kubelet.node_status", "run_node_status"),
    ("kubelet", "kubelite.agent.kubelet", "run_kubelet"),
    ("image-gc", "kubelite.agent.kubelet.image_gc", "run_image_gc"),
    ("static-pods", "kubelite.agent.kubelet.static_pods", "run_static_pods"),
    ("kubelet-server", "kubelite.agent.kubelet.server", "run_kubelet_server"),
    ("pod-network", "kubelite.agent.network", "run_pod_network"),
    ("proxy", "kubelite.agent.proxy", "run_proxy"),
)
RUNTIME_READY_TIMEOUT: Final = 60.0
IMAGES_DIR_PERIOD: Final = 5.0
PR_SET_PDEATHSIG: Final = 1


class AgentError(Exception):
    """The agent cannot start; the message says why (the CLI prints it as one line)."""


def load_component(module: str, function: str) -> Callable[..., Awaitable[None]]:
    """The component's entry point; a component that fails to import stops the agent with that error."""
    return getattr(importlib.import_module(module), function)  # type: ignore[no-any-return]


def _call(func: Callable[..., Awaitable[None]], available: dict[str, Any]) -> Awaitable[None]:
    params = inspect.signature(func).parameters
    return func(**{name: value for name, value in available.items() if name in params})


async def ensure_images(*, config: AgentConfig, runtime: RuntimeClient, address: str, snapshotter: str,
                        seen: dict[Path, tuple[float, int]] | None = None) -> None:
    """Import the pause image when missing, and every archive in ``config.images_dir`` not ``seen`` yet."""
    if not (await runtime.image_status(image=PAUSE_IMAGE)).HasField("image"):
        archive = pause_image_archive(output=config.agent_dir / "cache" / "pause.tar")
        names = await import_archive(archive, address=address, snapshotter=snapshotter)
        log.info("imported %s", ", ".join(names))
    await import_new_archives(config=config, address=address, snapshotter=snapshotter,
                              seen={} if seen is None else seen)


async def import_new_archives(*, config: AgentConfig, address: str, snapshotter: str,
                              seen: dict[Path, tuple[float, int]]) -> None:
    """Import ``*.tar`` archives of the images dir that are new or changed since ``seen`` (k3s's airgap dir)."""
    config.images_dir.mkdir(parents=True, exist_ok=True)
    for archive in sorted(config.images_dir.glob("*.tar")):
        try:
            stat = archive.stat()
        except OSError:
            continue
        stamp = (stat.st_mtime, stat.st_size)
        if seen.get(archive) == stamp:
            continue
        seen[archive] = stamp
        try:
            names = await import_archive(archive, address=address, snapshotter=snapshotter)
        except ImageError as err:
            log.warning("image archive %s: %s", archive, err)
        else:
            log.info("imported %s from %s", ", ".join(names), archive.name)


async def watch_images_dir(*, config: AgentConfig, address: str, snapshotter: str,
                           seen: dict[Path, tuple[float, int]], period: float = IMAGES_DIR_PERIOD) -> None:
    """Archives dropped into the images dir while the agent runs are imported within ``period`` seconds."""
    while True:
        await asyncio.sleep(period)
        await import_new_archives(config=config, address=address, snapshotter=snapshotter, seen=seen)


async def _wait_image(runtime: RuntimeClient, image: str, timeout: float = 10.0) -> None:
    # the CRI plugin learns about an imported image from containerd's events, a moment later
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if (await runtime.image_status(image=image)).HasField("image"):
            return
        await asyncio.sleep(0.05)


async def agent_main(config: AgentConfig, *, stop: asyncio.Event | None = None) -> None:
    """Run the agent until ``stop`` is set (or the task is cancelled)."""
    kubeconfig = config.kubeconfig
    if kubeconfig is None:
        # join: the token buys a node client certificate through a CSR (kept and reused under agent_dir)
        try:
            kubeconfig = await bootstrap_node_credentials(server=config.server, token=config.token,
                                                          node_name=config.node_name, directory=config.agent_dir)
        except BootstrapError as exc:
            raise AgentError(f"joining {config.server}: {exc}") from None
    client_config = load_kubeconfig(kubeconfig)
    if config.kubeconfig is not None:
        # no join: the kubelet API still verifies callers against the cluster's client CA (as upstream's
        # kubelet with --client-ca-file), fetched from the server the kubeconfig trusts
        try:
            await ensure_client_ca(config=client_config, path=config.agent_dir / CLIENT_CA_NAME)
        except BootstrapError as exc:
            raise AgentError(f"the cluster's client CA for the kubelet API: {exc}") from None
    supervisor: ContainerdSupervisor | None = None
    snapshotter = "overlayfs"
    if config.container_runtime_endpoint:
        endpoint = config.container_runtime_endpoint
    else:
        for directory in (config.cni_bin_dir, config.cni_conf_dir):
            directory.mkdir(parents=True, exist_ok=True)
        cd_config = ContainerdConfig.detect(data_dir=config.data_dir, cni_bin_dir=config.cni_bin_dir.absolute(),
                                            cni_conf_dir=config.cni_conf_dir.absolute())
        snapshotter = cd_config.snapshotter
        supervisor = ContainerdSupervisor(config=cd_config)
        await supervisor.start()
        endpoint = cd_config.address
    runtime = RuntimeClient(endpoint)
    try:
        await runtime.wait_ready(RUNTIME_READY_TIMEOUT)
        seen: dict[Path, tuple[float, int]] = {}
        await ensure_images(config=config, runtime=runtime, address=endpoint, snapshotter=snapshotter, seen=seen)
        await _wait_image(runtime, PAUSE_IMAGE)
        async with APIClient(client_config, user_agent=f"kubelite-agent/{config.node_name}") as client:
            available = {"config": config, "client": client, "runtime": runtime}
            async with asyncio.TaskGroup() as group:
                group.create_task(watch_images_dir(config=config, address=endpoint, snapshotter=snapshotter,
                                                   seen=seen), name="agent-images-dir")
                for name, module, function in COMPONENTS:
                    if name in config.disabled_components:
                        log.info("agent component %s is disabled", name)
                        continue
                    func = load_component(module, function)
                    group.create_task(_call(func, available), name=f"agent-{name}")  # type: ignore[arg-type]
                if stop is not None:
                    await stop.wait()
                    raise _Stop
    except* _Stop:
        pass
    finally:
        await runtime.close()
        if supervisor is not None:
            await supervisor.stop()


class _Stop(Exception):
    """Ends the component group on SIGTERM."""


async def _run_until_signal(config: AgentConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signo in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signo, stop.set)
    await agent_main(config, stop=stop)
    log.info("agent %s stopped", config.node_name)


def die_with_parent() -> None:
    """Under ``kubelite server``: SIGTERM when the server dies, so no agent outlives a crashed server."""
    parent = os.environ.get("KUBELITE_AGENT_PARENT_PID", "")
    if not parent.isdigit():
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != int(parent):  # the parent died before prctl took effect
        raise SystemExit("kubelite agent: the kubelite server that started this agent is gone")


def run_agent(config: AgentConfig) -> None:
    """The blocking entry point of ``kubelite agent``."""
    die_with_parent()
    logging.basicConfig(level=os.environ.get("KUBELITE_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    Path(config.data_dir).mkdir(parents=True, exist_ok=True)
    # uvloop drives our loop only: not installed as the global policy, because pyroute2 makes its own
    # asyncio loop in worker threads (netlink), and uvloop's loops cannot open AF_NETLINK sockets.
    loop_factory = None
    with contextlib.suppress(ImportError):
        import uvloop

        loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(_run_until_signal(config))
