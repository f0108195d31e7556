"""What one node agent is told at start-up: the contract between ``kubelite agent`` and its parts.

The CLI (and ``kubelite server``, which runs an agent beside the control plane unless
``--disable-agent``) builds one :class:`AgentConfig`; every agent component (kubelet, kubelet server,
pod network, service proxy) reads what it needs from it and keeps its files under
:attr:`AgentConfig.agent_dir`. Several agents can share a host (the netns test cluster does) as long
as they get different data dirs, node names and ports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class AgentConfig:
    data_dir: Path
    """Everything this node writes lives under ``data_dir / "agent"``."""
    server: str
    """``https://HOST:PORT`` of a kubelite API server."""
    node_name: str
    node_ip: str = ""
    """Address advertised in ``Node.status.addresses``; empty: the host's primary address."""
    kubeconfig: Path | None = None
    """Credentials to reach the API server; ``None``: join with :attr:`token`."""
    token: str = ""
    node_labels: dict[str, str] = field(default_factory=dict)
    node_taints: tuple[str, ...] = ()
    """``key[=value]:Effect`` as ``--node-taint`` takes them."""
    container_runtime_endpoint: str = ""
    """An existing containerd socket; empty: the agent writes, starts and supervises its own."""
    cluster_cidr: str = "10.42.0.0/16"
    service_cidr: str = "10.43.0.0/16"
    cluster_dns: str = ""
    """The cluster DNS Service IP written into pods' resolv.conf; empty: the host's resolvers."""
    cluster_domain: str = "cluster.local"
    kubelet_port: int = 10250
    pod_network_backend: str = "host-gw"
    """``host-gw`` (nodes on one L2) or ``vxlan``."""
    proxy_mode: str = "nftables"
    """``nftables``, or ``userspace`` (also chosen automatically when nftables is unusable)."""
    proxy_lb: str = "round-robin"
    nodeport_addresses: tuple[str, ...] = ()
    cgroup_root: str = "/kubepods"
    """Parent cgroup of every pod (cgroupfs driver): ``<cgroup_root>/<qos>/pod<uid>`` as upstream."""
    crash_loop_backoff_base: float = 10.0
    """First CrashLoopBackOff/ImagePullBackOff delay; doubles per restart up to :attr:`crash_loop_backoff_max`."""
    crash_loop_backoff_max: float = 300.0
    node_status_update_frequency: float = 10.0
    """How often the node's status is computed (and written when it changed), as the kubelet's flag."""
    pleg_relist_period: float = 1.0
    disabled_components: tuple[str, ...] = ()
    """Agent components not to run (``kubelet-server``, ``pod-network``, ``proxy``), as k3s's ``--disable``."""

    @property
    def agent_dir(self) -> Path:
        return self.data_dir / "agent"

    @property
    def cni_bin_dir(self) -> Path:
        return self.agent_dir / "cni" / "bin"

    @property
    def cni_conf_dir(self) -> Path:
        return self.agent_dir / "cni" / "conf"

    @property
    def pod_logs_dir(self) -> Path:
        """CRI log files: ``<pod_logs_dir>/<namespace>_<name>_<uid>/<container>/<restartCount>.log``."""
        return self.agent_dir / "pod-logs"

    @property
    def images_dir(self) -> Path:
        """Image tarballs dropped here are imported at start-up and when they appear."""
        return self.agent_dir / "images"
