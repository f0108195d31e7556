"""The ``kubelite`` command: one entry point for every process and tool (DESIGN.md, "Processes").

Errors a user can cause end in one plain line on stderr and a non-zero exit, never a traceback
(set ``KUBELITE_DEBUG=1`` to see one).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from kubelite import __version__

if TYPE_CHECKING:
    from kubelite.agent.embedded import EmbeddedAgent
    from kubelite.controlplane.scheduler.config import SchedulerConfig

DEFAULT_DATA_DIR = "/var/lib/kubelite"
DEFAULT_KUBECONFIG = "/etc/kubelite/kubeconfig.yaml"



class CLIError(Exception):
    """A user-facing failure: printed as one line, exit code ``code``."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", default=DEFAULT_DATA_DIR, help="everything this node writes lives here")
    p.add_argument("--node-name", help="name of this node (default: hostname)")
    p.add_argument("--node-ip", help="IP address to advertise for this node")
    p.add_argument("--token", help="shared secret agents use to join")
    p.add_argument("--token-file", help="file holding --token")


def _service_cidr(value: str) -> str:
    """--service-cidr as upstream's --service-cluster-ip-range: one CIDR or an IPv4,IPv6 pair."""
    from kubelite.controlplane.apiserver.allocators import parse_service_cidrs

    try:
        parse_service_cidrs(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def _pod_cidr(value: str) -> str:
    """An agent's --cluster-cidr: one CIDR (the pod network is single-stack)."""
    import ipaddress

    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value!r} is not a CIDR: {exc}") from None
    return value


def _add_server_flags(p: argparse.ArgumentParser) -> None:
    _add_common(p)
    p.add_argument("--write-kubeconfig", default=DEFAULT_KUBECONFIG, help="admin kubeconfig (mode 0600)")
    p.add_argument("--datastore-endpoint", default="sqlite",
                   help="'sqlite' (embedded) or etcd://host:2379,host:2379")
    p.add_argument("--bind-address", default="0.0.0.0")
    p.add_argument("--secure-port", type=int, default=6443)
    p.add_argument("--cluster-cidr", default="10.42.0.0/16")
    p.add_argument("--service-cidr", default="10.43.0.0/16", type=_service_cidr,
                   help="Service ClusterIP range; dual stack: an IPv4 and an IPv6 CIDR, comma-separated")
    p.add_argument("--tls-san", action="append", default=[])
    p.add_argument("--token-auth-file", help="static bearer tokens: CSV lines token,user,uid[,\"group1,group2\"]")
    p.add_argument("--encryption-provider-config",
                   help="EncryptionConfiguration for data at rest (default: a generated aesgcm key for Secrets)")
    p.add_argument("--audit-log-path", help="write audit.k8s.io/v1 events here, one JSON line each")
    p.add_argument("--audit-policy-file", help="audit.k8s.io/v1 Policy (default with a log path: Metadata for all)")
    p.add_argument("--audit-log-maxsize", type=int, default=0, metavar="MB",
                   help="rotate the audit log before it grows past this many megabytes (0: 100)")
    p.add_argument("--audit-log-maxbackup", type=int, default=0, help="rotated audit logs to keep (0: all)")
    p.add_argument("--audit-log-maxage", type=int, default=0, metavar="DAYS",
                   help="remove rotated audit logs older than this (0: never)")
    p.add_argument("--admission-control-config-file",
                   help="AdmissionConfiguration (PodSecurity defaults and exemptions)")
    p.add_argument("--disable-agent", action="store_true")
    p.add_argument("--kubelet-port", type=int, default=10250, help="the embedded agent's kubelet port")
    _add_agent_component_flags(p)
    p.add_argument("--disable-controllers", action="store_true", help="run no controllers in this process")
    p.add_argument("--disable-scheduler", action="store_true", help="run no scheduler in this process")
    p.add_argument("--disable-lean-http", action="store_true",
                   help="serve every request through aiohttp (by default one-shot requests take the lean "
                        "HTTP/1.1 edge; for comparison and diagnosis)")
    p.add_argument("--scheduler-config", help="KubeSchedulerConfiguration file for the embedded scheduler")
    p.add_argument("--leader-elect", action="store_true",
                   help="run controllers and the scheduler only while holding their kube-system Leases")
    p.add_argument("--node-monitor-grace-period", type=_duration, default=40.0,
                   help="how long a node may miss heartbeats before it is marked Unknown (default 40s)")
    p.add_argument("--default-not-ready-toleration-seconds", type=_toleration_seconds, default=300,
                   help="tolerationSeconds added to pods for the not-ready NoExecute taint (default 300)")
    p.add_argument("--default-unreachable-toleration-seconds", type=_toleration_seconds, default=300,
                   help="tolerationSeconds added to pods for the unreachable NoExecute taint (default 300)")
    p.add_argument("--horizontal-pod-autoscaler-sync-period", type=_duration, default=15.0,
                   help="how often HorizontalPodAutoscalers are reconciled (default 15s)")
    p.add_argument("--metric-resolution", type=_duration, default=15.0,
                   help="how often kubelets are scraped for the metrics.k8s.io API (default 15s)")


def _duration(value: str) -> float:
    """Seconds from a number or a Go duration as upstream flags take it ("40s", "1m30s", "500ms")."""
    import re

    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text)
        if not parts or "".join(n + u for n, u in parts) != text:
            raise argparse.ArgumentTypeError(f"{value!r} is not a duration such as 40s, 1m30s or 500ms") from None
        seconds = sum(float(n) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[u] for n, u in parts)
    if not 0 < seconds < float("inf"):  # also refuses nan
        raise argparse.ArgumentTypeError(f"{value!r}: must be a positive duration")
    return seconds


def _toleration_seconds(value: str) -> int:
    try:
        seconds = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of seconds") from None
    if seconds < 0:
        raise argparse.ArgumentTypeError(f"{value!r}: must not be negative")
    return seconds


def _add_agent_flags(p: argparse.ArgumentParser) -> None:
    _add_common(p)
    p.add_argument("--server", required=True, help="https://HOST:6443 of a kubelite server")
    p.add_argument("--container-runtime-endpoint", help="use this containerd socket instead of our own")
    p.add_argument("--kubeconfig", help="credentials to reach the server (until joining with --token is built)")
    p.add_argument("--node-label", action="append", default=[], metavar="KEY=VALUE",
                   help="label to register the node with (repeatable)")
    p.add_argument("--node-taint", action="append", default=[], metavar="KEY[=VALUE]:EFFECT",
                   help="taint to register the node with (repeatable)")
    p.add_argument("--cluster-dns", default="", help="cluster DNS Service IP for pods' resolv.conf")
    p.add_argument("--cluster-domain", default="cluster.local")
    # the server's ranges (the embedded agent gets them from the server's flags): pod network and proxy masquerade
    p.add_argument("--cluster-cidr", default="10.42.0.0/16", type=_pod_cidr,
                   help="the cluster's pod CIDR (as the server's)")
    p.add_argument("--service-cidr", default="10.43.0.0/16", type=_service_cidr,
                   help="the cluster's Service CIDR(s), as the server's (dual stack: IPv4,IPv6)")
    p.add_argument("--kubelet-port", type=int, default=10250)
    p.add_argument("--cgroup-root", default="/kubepods", help="parent cgroup of every pod (cgroupfs driver)")
    # tests shorten CrashLoopBackOff (upstream: 10s doubling to 5m)
    p.add_argument("--crash-loop-backoff-base", type=float, default=10.0, help=argparse.SUPPRESS)
    _add_agent_component_flags(p)


def _add_agent_component_flags(p: argparse.ArgumentParser) -> None:
    """Agent flags ``kubelite server`` also takes for its embedded agent (k3s names them alike)."""
    p.add_argument("--disable", action="append", default=[], choices=["kubelet-server", "pod-network", "proxy"],
                   help="agent component not to run (repeatable)")
    p.add_argument("--disable-kube-proxy", action="store_true", help="run no service proxy")
    p.add_argument("--flannel-backend", "--pod-network-backend", dest="flannel_backend",
                   choices=["host-gw", "vxlan", "none"], default="host-gw",
                   help="pod network backend; none: another CNI provides it")
    p.add_argument("--proxy-mode", choices=["nftables", "userspace"], default="nftables",
                   help="service proxy data path (userspace is also chosen when nftables is unusable)")
    p.add_argument("--proxy-lb", choices=["round-robin", "random"], default="round-robin",
                   help="how the service proxy picks an endpoint for a new connection")
    p.add_argument("--nodeport-addresses", default="",
                   help="comma-separated IPv4/IPv6 CIDRs whose local addresses accept NodePorts (default: all; a "
                        "family without a CIDR here: all of its addresses)")


def _nodeport_cidrs(value: str) -> tuple[str, ...]:
    """``--nodeport-addresses`` as normalised IPv4/IPv6 CIDRs; a clear error for anything else."""
    import ipaddress

    cidrs = []
    for item in filter(None, (part.strip() for part in value.split(","))):
        try:
            net = ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise CLIError(f"--nodeport-addresses {item!r}: not a CIDR such as 192.168.0.0/24") from None
        cidrs.append(str(net))
    return tuple(cidrs)


def _agent_component_args(args: argparse.Namespace) -> tuple[list[str], str]:
    """(disabled components, pod network backend) from the flags above."""
    disabled = list(dict.fromkeys(args.disable))
    if args.disable_kube_proxy and "proxy" not in disabled:
        disabled.append("proxy")
    if args.flannel_backend == "none" and "pod-network" not in disabled:
        disabled.append("pod-network")
    return disabled, "host-gw" if args.flannel_backend == "none" else args.flannel_backend


def cmd_agent(args: argparse.Namespace) -> int:
    from kubelite.agent.config import AgentConfig
    from kubelite.agent.kubelet.node_status import parse_taint
    from kubelite.agent.main import AgentError, run_agent
    from kubelite.cri import ContainerdError, CriError

    labels = {}
    for item in args.node_label:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CLIError(f"--node-label {item!r}: expected KEY=VALUE")
        labels[key] = value
    for taint in args.node_taint:
        try:
            parse_taint(taint)
        except ValueError as exc:
            raise CLIError(str(exc)) from None
    try:
        token = args.token or (Path(args.token_file).read_text().strip() if args.token_file else "")
    except OSError as exc:
        raise CLIError(f"agent: --token-file {args.token_file}: {exc.strerror or exc}") from None
    if not args.kubeconfig and not token:
        raise CLIError("agent: give --token (or --token-file) to join, or --kubeconfig")
    if args.kubeconfig and not Path(args.kubeconfig).is_file():
        raise CLIError(f"agent: --kubeconfig {args.kubeconfig}: no such file")
    if not args.server.startswith("https://"):
        raise CLIError(f"agent: --server {args.server!r}: expected https://HOST:PORT")
    import socket

    disabled, backend = _agent_component_args(args)
    config = AgentConfig(
        data_dir=Path(args.data_dir).absolute(), server=args.server,
        node_name=(args.node_name or socket.gethostname()).lower(),
        node_ip=args.node_ip or "", kubeconfig=Path(args.kubeconfig) if args.kubeconfig else None, token=token,
        node_labels=labels,
        node_taints=tuple(args.node_taint), container_runtime_endpoint=args.container_runtime_endpoint or "",
        cluster_dns=args.cluster_dns, cluster_domain=args.cluster_domain, kubelet_port=args.kubelet_port,
        cgroup_root=args.cgroup_root, crash_loop_backoff_base=args.crash_loop_backoff_base,
        disabled_components=tuple(disabled), pod_network_backend=backend, proxy_mode=args.proxy_mode,
        proxy_lb=args.proxy_lb, nodeport_addresses=_nodeport_cidrs(args.nodeport_addresses),
        cluster_cidr=args.cluster_cidr, service_cidr=args.service_cidr)
    try:
        run_agent(config)
    except (AgentError, ContainerdError, CriError) as exc:
        raise CLIError(f"agent: {exc}") from None
    return 0


def _containerd_endpoint(args: argparse.Namespace) -> tuple[str, str]:
    """(CRI endpoint, snapshotter) of the node's containerd: --container-runtime-endpoint or the data dir's."""
    import re

    if args.container_runtime_endpoint:
        return args.container_runtime_endpoint, "overlayfs"
    from kubelite.cri import ContainerdPaths

    paths = ContainerdPaths.for_data_dir(Path(args.data_dir))
    if not paths.socket.exists():
        raise CLIError(f"images: no containerd socket at {paths.socket}; is `kubelite agent --data-dir "
                       f"{args.data_dir}` running? (or give --container-runtime-endpoint)")
    snapshotter = "overlayfs"
    if paths.config.is_file():
        match = re.search(r'^\s*snapshotter\s*=\s*"([^"]+)"', paths.config.read_text(), re.M)
        if match:
            snapshotter = match.group(1)
    return f"unix://{paths.socket}", snapshotter


def cmd_images(args: argparse.Namespace) -> int:
    import asyncio

    from kubelite.cri import CriError, ImageError, RuntimeClient, import_archive, pack_rootfs

    endpoint, snapshotter = _containerd_endpoint(args)

    async def run() -> int:
        if args.action == "import":
            if not args.paths:
                raise CLIError("images import: name at least one image archive (.tar)")
            for path in args.paths:
                names = await import_archive(Path(path), address=endpoint, snapshotter=snapshotter)
                print(f"imported {', '.join(names)} from {path}")
        elif args.action == "pack":
            if len(args.paths) != 1 or not args.tag:
                raise CLIError("images pack: usage: kubelite images pack DIR --tag NAME")
            rootfs = Path(args.paths[0])
            if not rootfs.is_dir():
                raise CLIError(f"images pack: {rootfs} is not a directory")
            output = Path(args.output) if args.output else None
            archive = pack_rootfs(rootfs, tag=args.tag, output=output)
            names = await import_archive(archive, address=endpoint, snapshotter=snapshotter)
            print(f"packed {rootfs} as {', '.join(names)} ({archive})")
        else:
            async with RuntimeClient(endpoint, timeout=30) as runtime:
                images = (await runtime.list_images()).images
            rows = [("IMAGE", "TAG", "IMAGE ID", "SIZE")]
            for image in images:
                for tag in image.repo_tags or ["<none>:<none>"]:
                    repo, _, version = tag.rpartition(":")
                    rows.append((repo, version, image.id.removeprefix("sha256:")[:13],
                                 f"{image.size / 1e6:.1f}MB"))
            widths = [max(len(r[i]) for r in rows) for i in range(4)]
            for row in rows:
                print("   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        return 0

    try:
        return asyncio.run(run())
    except (ImageError, CriError, ValueError) as exc:
        raise CLIError(f"images {args.action}: {exc}") from None


def cmd_version(args: argparse.Namespace) -> int:
    from kubelite.native import nft_compiler, scoring

    # "cython" only when every kernel is compiled; otherwise say which twin is pure Python
    kernels = {"scoring": scoring.IMPLEMENTATION, "nft rule compiler": nft_compiler.IMPLEMENTATION}
    summary = "cython" if set(kernels.values()) == {"cython"} else ", ".join(f"{k} {v}" for k, v in kernels.items())
    print(f"kubelite v{__version__} (python {sys.version.split()[0]}, native kernels: {summary})")
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    from kubelite.check_config import all_checks, report

    return report(all_checks())


def _scheduler_config(path: str | None) -> SchedulerConfig | None:
    """The KubeSchedulerConfiguration at ``path`` (None: defaults); a bad file is a CLIError."""
    if not path:
        return None
    from kubelite.controlplane.scheduler.config import SchedulerConfigError, load_config

    try:
        return load_config(path)
    except SchedulerConfigError as exc:
        raise CLIError(f"--config {exc}") from None


def cmd_scheduler(args: argparse.Namespace) -> int:
    from kubelite.client import ConfigError, load_kubeconfig
    from kubelite.controlplane.scheduler.scheduler import run_standalone

    config = _scheduler_config(args.config)
    try:
        client_config = load_kubeconfig(args.kubeconfig)
    except (ConfigError, OSError) as exc:
        raise CLIError(f"--kubeconfig {args.kubeconfig}: {exc}") from None
    run_standalone(client_config=client_config, config=config, leader_elect=args.leader_elect)
    return 0


def cmd_controller_manager(args: argparse.Namespace) -> int:
    import ipaddress

    from kubelite.client import ConfigError, load_kubeconfig
    from kubelite.controlplane.controllers.manager import run_standalone

    try:
        ipaddress.ip_network(args.cluster_cidr, strict=True)
    except ValueError as exc:
        raise CLIError(f"--cluster-cidr {args.cluster_cidr}: {exc}") from None
    try:
        client_config = load_kubeconfig(args.kubeconfig)
    except (ConfigError, OSError) as exc:
        raise CLIError(f"--kubeconfig {args.kubeconfig}: {exc}") from None
    if args.node_monitor_grace_period <= 0:
        raise CLIError(f"--node-monitor-grace-period {args.node_monitor_grace_period}: must be a positive number "
                       "of seconds")
    run_standalone(client_config=client_config, leader_elect=args.leader_elect, cluster_cidr=args.cluster_cidr,
                   node_monitor_grace_period=args.node_monitor_grace_period,
                   terminated_pod_gc_threshold=args.terminated_pod_gc_threshold,
                   horizontal_pod_autoscaler_sync_period=args.horizontal_pod_autoscaler_sync_period)
    return 0


def cmd_apiserver(args: argparse.Namespace) -> int:
    """``kubelite server`` without its scheduler, controllers and agent: those run as their own processes
    (``kubelite scheduler|controller-manager|agent``) so that a second core is used."""
    args.disable_agent = args.disable_controllers = args.disable_scheduler = True
    return cmd_server(args)


def cmd_server(args: argparse.Namespace) -> int:
    from kubelite.controlplane.server import ServerConfig, run_server

    config = ServerConfig(
        data_dir=Path(args.data_dir), write_kubeconfig=Path(args.write_kubeconfig) if args.write_kubeconfig
        else None, datastore_endpoint=args.datastore_endpoint, bind_address=args.bind_address,
        secure_port=args.secure_port, service_cidr=args.service_cidr, cluster_cidr=args.cluster_cidr,
        node_name=args.node_name or "", node_ip=args.node_ip or "", tls_san=list(args.tls_san),
        leader_elect=args.leader_elect, disable_controllers=args.disable_controllers,
        disable_scheduler=args.disable_scheduler,
        lean_http=not args.disable_lean_http,
        scheduler_config=_scheduler_config(args.scheduler_config),
        node_monitor_grace_period=args.node_monitor_grace_period,
        default_not_ready_toleration_seconds=args.default_not_ready_toleration_seconds,
        default_unreachable_toleration_seconds=args.default_unreachable_toleration_seconds,
        horizontal_pod_autoscaler_sync_period=args.horizontal_pod_autoscaler_sync_period,
        metric_resolution=args.metric_resolution)
    config.token = read_token(args)
    if config.token:
        from kubelite.controlplane.auth.bootstrap_token import TokenFormatError, parse_join_token

        try:
            parse_join_token(config.token)
        except TokenFormatError as exc:
            raise CLIError(f"server: --token: {exc}") from None
    config.disable_agent = bool(args.disable_agent)
    if args.token_auth_file:
        if not Path(args.token_auth_file).is_file():
            raise CLIError(f"--token-auth-file {args.token_auth_file}: no such file")
        config.token_auth_file = Path(args.token_auth_file)
    if args.encryption_provider_config:
        config.encryption_provider_config = Path(args.encryption_provider_config)
    if args.audit_policy_file and not args.audit_log_path:
        raise CLIError("--audit-policy-file needs --audit-log-path")
    config.audit_log_path = Path(args.audit_log_path) if args.audit_log_path else None
    config.audit_policy_file = Path(args.audit_policy_file) if args.audit_policy_file else None
    for flag in ("maxsize", "maxbackup", "maxage"):
        if getattr(args, f"audit_log_{flag}") < 0:
            raise CLIError(f"--audit-log-{flag} {getattr(args, f'audit_log_{flag}')}: must not be negative")
    config.audit_log_rotation = (args.audit_log_maxsize, args.audit_log_maxbackup, args.audit_log_maxage)
    if args.admission_control_config_file:
        from kubelite.controlplane.admission.config import AdmissionConfigError, load_admission_configuration

        try:  # checked here so a bad file is one clear line, not a server that dies while starting
            load_admission_configuration(Path(args.admission_control_config_file))
        except AdmissionConfigError as exc:
            raise CLIError(f"--admission-control-config-file: {exc}") from None
        config.admission_control_config_file = Path(args.admission_control_config_file)
    agent = None if args.disable_agent else _embedded_agent(args)
    if agent is not None:
        agent.start()
    try:
        run_server(config)
    finally:
        if agent is not None:
            agent.stop()
    return 0


def _embedded_agent(args: argparse.Namespace) -> EmbeddedAgent:
    """``kubelite agent`` as a supervised child of this server, over loopback, as ``system:node:<name>``
    (the server writes that node's kubeconfig and client CA under ``<data-dir>/agent`` at each start)."""
    from kubelite.agent.embedded import EmbeddedAgent, agent_command

    data_dir = Path(args.data_dir).absolute()
    host = "127.0.0.1" if args.bind_address in ("0.0.0.0", "::", "") else args.bind_address
    if ":" in host:
        host = f"[{host}]"
    kubeconfig = data_dir / "agent" / "kubelet.kubeconfig"
    disabled, backend = _agent_component_args(args)
    extra = ["--kubelet-port", str(args.kubelet_port), "--flannel-backend", backend,
             *(f"--disable={name}" for name in disabled), "--proxy-mode", args.proxy_mode, "--proxy-lb", args.proxy_lb,
             "--nodeport-addresses", ",".join(_nodeport_cidrs(args.nodeport_addresses)),
             "--cluster-cidr", args.cluster_cidr, "--service-cidr", args.service_cidr]
    command = agent_command(data_dir=data_dir, server=f"https://{host}:{args.secure_port}", kubeconfig=kubeconfig,
                            node_name=args.node_name or "", node_ip=args.node_ip or "", extra=extra)
    return EmbeddedAgent(command=command, kubeconfig=kubeconfig, log_path=data_dir / "agent" / "agent.log")


def read_token(args: argparse.Namespace) -> str:
    """--token, or the first line of --token-file (k3s's rule: --token wins)."""
    if args.token:
        return str(args.token).strip()
    if args.token_file:
        try:
            return Path(args.token_file).read_text().strip()
        except OSError as exc:
            raise CLIError(f"--token-file {args.token_file}: {exc.strerror or exc}") from None
    return ""


def cmd_token(args: argparse.Namespace) -> int:
    import asyncio

    from kubelite.client import APIClient, APIConnectionError, APIStatusError, load_kubeconfig
    from kubelite.controlplane.auth import token_admin
    from kubelite.controlplane.auth.bootstrap_token import DEFAULT_TTL, TokenFormatError, parse_ttl

    kubeconfig = args.kubeconfig or find_kubeconfig(
        dict(os.environ, KUBELITE_DATA_DIR=args.data_dir) if args.data_dir else None)

    async def run() -> int:
        async with APIClient(load_kubeconfig(kubeconfig)) as client:
            if args.action == "create":
                ttl = parse_ttl(args.ttl) if args.ttl is not None else DEFAULT_TTL
                groups = tuple(g.strip() for g in (args.groups or "").split(",") if g.strip())
                usages = tuple(u.strip() for u in args.usages.split(",") if u.strip())
                print(await token_admin.create_token(client=client, token=args.token or "", ttl=ttl,
                                                     description=args.description or "", groups=groups,
                                                     usages=usages))
            elif args.action == "list":
                rows = await token_admin.list_tokens(client=client)
                widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
                for row in rows:
                    print("   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
            else:
                if not args.token:
                    raise CLIError("token delete: name the token or its id")
                print(f'bootstrap token "{await token_admin.delete_token(client=client, token=args.token)}" deleted')
        return 0

    try:
        return asyncio.run(run())
    except TokenFormatError as exc:
        raise CLIError(f"token {args.action}: {exc}") from None
    except APIStatusError as exc:
        raise CLIError(f"token {args.action}: {exc}") from None
    except APIConnectionError as exc:
        raise CLIError(f"token {args.action}: cannot reach the server ({exc})") from None


def cmd_certificate(args: argparse.Namespace) -> int:
    from kubelite.controlplane.auth.pki import PKIError, rotate_pki

    try:
        written = rotate_pki(tls_dir=Path(args.data_dir) / "server" / "tls")
    except PKIError as exc:
        raise CLIError(f"certificate rotate: {exc}") from None
    print(f"certificate rotate: re-issued {', '.join(written)}; restart `kubelite server` to serve them "
          "(it rewrites the admin kubeconfig)")
    return 0


def find_kubeconfig(environ: dict[str, str] | None = None) -> str:
    """The kubeconfig `kubelite kubectl` uses: $KUBECONFIG, else the one the server wrote."""
    env = os.environ if environ is None else environ
    if env.get("KUBECONFIG"):
        return env["KUBECONFIG"]
    candidates = [DEFAULT_KUBECONFIG, str(Path(env.get("KUBELITE_DATA_DIR", DEFAULT_DATA_DIR))
                                          / "server" / "cred" / "admin.kubeconfig")]
    for path in candidates:
        if Path(path).is_file():
            return path
    raise CLIError(f"no kubeconfig found (looked at $KUBECONFIG, {', '.join(candidates)}); "
                   "start `kubelite server` first")


def run_kubectl(argv: Sequence[str]) -> int:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise CLIError("kubectl not found on PATH; the installer puts one there (deploy/install.sh)")
    env = dict(os.environ, KUBECONFIG=find_kubeconfig())
    os.execve(kubectl, [kubectl, *argv], env)
    return 0  # not reached


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kubelite", description="a small, complete Kubernetes")
    parser.add_argument("--version", action="version", version=f"kubelite v{__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("server", help="API server, scheduler, controllers and an embedded agent")
    _add_server_flags(p)
    p.set_defaults(func=cmd_server)

    p = sub.add_parser("agent", help="node agent: kubelet, service proxy, CNI, containerd")
    _add_agent_flags(p)
    p.set_defaults(func=cmd_agent)

    p = sub.add_parser("scheduler", help="run only the scheduler, against a server (for a second core)")
    p.add_argument("--kubeconfig", required=True, help="kubeconfig to reach the API server with")
    p.add_argument("--config", help="KubeSchedulerConfiguration file (kubescheduler.config.k8s.io/v1)")
    p.add_argument("--leader-elect", action="store_true",
                   help="schedule only while holding the kube-system/kube-scheduler Lease")
    p.set_defaults(func=cmd_scheduler)

    p = sub.add_parser("controller-manager", help="run only the controllers, against a server (for a second core)")
    p.add_argument("--kubeconfig", required=True, help="kubeconfig to reach the API server with")
    p.add_argument("--leader-elect", action="store_true",
                   help="run controllers only while holding the kube-system/kube-controller-manager Lease")
    p.add_argument("--cluster-cidr", default="10.42.0.0/16", help="pod CIDRs for nodes are cut from it (/24 each)")
    p.add_argument("--node-monitor-grace-period", type=_duration, default=40.0,
                   help="how long a node may miss heartbeats before it is marked Unknown (default 40s)")
    p.add_argument("--terminated-pod-gc-threshold", type=int, default=12500,
                   help="finished pods kept before the oldest are deleted (0: never)")
    p.add_argument("--horizontal-pod-autoscaler-sync-period", type=_duration, default=15.0,
                   help="how often HorizontalPodAutoscalers are reconciled (default 15s)")
    p.set_defaults(func=cmd_controller_manager)

    p = sub.add_parser("apiserver", help="run only the API server (scheduler, controllers and agent elsewhere)")
    _add_server_flags(p)
    p.set_defaults(func=cmd_apiserver)

    p = sub.add_parser("kubectl", help="the system kubectl with this cluster's kubeconfig",
                       add_help=False)
    p.add_argument("args", nargs=argparse.REMAINDER)

    p = sub.add_parser("check-config", help="can this host run kubelite? one verdict per check")
    p.set_defaults(func=cmd_check_config)

    p = sub.add_parser("version", help="print version information")
    p.set_defaults(func=cmd_version)

    p = sub.add_parser("images", help="import, pack and list images in this node's containerd")
    p.add_argument("action", choices=["import", "pack", "list"])
    p.add_argument("paths", nargs="*", help="import: image archives; pack: one rootfs directory")
    p.add_argument("--tag", help="pack: the image name, e.g. example.local/app:1")
    p.add_argument("--output", help="pack: also keep the OCI archive here")
    p.add_argument("--data-dir", default=DEFAULT_DATA_DIR, help="the node whose containerd to use")
    p.add_argument("--container-runtime-endpoint", help="use this containerd socket instead of the data dir's")
    p.set_defaults(func=cmd_images)

    p = sub.add_parser("token", help="create, list and delete bootstrap (join) tokens")
    p.add_argument("action", choices=["create", "list", "delete"])
    p.add_argument("token", nargs="?", help="create: use this token instead of a random one; delete: token or id")
    p.add_argument("--ttl", help="create: lifetime such as 24h, 90m or 0 for never (default 24h)")
    p.add_argument("--description", help="create: a note shown by `token list`")
    p.add_argument("--groups", help="create: extra groups, comma-separated, each system:bootstrappers:...")
    p.add_argument("--usages", default="authentication,signing", help="create: authentication,signing")
    p.add_argument("--kubeconfig", help="admin kubeconfig (default: $KUBECONFIG, then the server's)")
    p.add_argument("--data-dir", help="the server's data dir, to find its admin kubeconfig")
    p.set_defaults(func=cmd_token)

    p = sub.add_parser("certificate", help="rotate the cluster's certificates")
    p.add_argument("action", choices=["rotate"])
    p.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    p.set_defaults(func=cmd_certificate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        if args_list[:1] == ["kubectl"]:
            # everything after `kubectl` belongs to kubectl, including -h and -n
            return run_kubectl(args_list[1:])
        args = build_parser().parse_args(args_list)
        code: int = args.func(args)
        return code
    except CLIError as exc:
        print(f"kubelite: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if os.environ.get("KUBELITE_DEBUG"):
            raise
        print(f"kubelite: internal error: {type(exc).__name__}: {exc} (KUBELITE_DEBUG=1 shows more)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
