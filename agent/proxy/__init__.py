"""kubelite.agent.proxy: the node's service proxy (nftables data path, userspace fallback).

See README.md in this folder.
"""

from kubelite.agent.proxy.metrics import REGISTRY, metrics_text
from kubelite.agent.proxy.service_proxy import run_proxy

__all__ = ["REGISTRY", "metrics_text", "run_proxy"]
