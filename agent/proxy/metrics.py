"""The service proxy's Prometheus metrics, named as kube-proxy names them where they mean the same.

They live in their own registry, :data:`REGISTRY`, so that the kubelet server's ``/metrics`` (or a
test) can include them without pulling in the process-wide default registry:
``prometheus_client.generate_latest(REGISTRY)`` or :func:`metrics_text`.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)

# kube-proxy's buckets: exponential from 1 ms, 15 buckets
_BUCKETS = tuple(0.001 * 2**i for i in range(15))

SYNC_DURATION = Histogram(
    "kubeproxy_sync_proxy_rules_duration_seconds", "SyncProxyRules latency in seconds",
    buckets=_BUCKETS, registry=REGISTRY)
FULL_SYNC_DURATION = Histogram(
    "kubeproxy_sync_full_proxy_rules_duration_seconds", "SyncProxyRules latency in seconds for full resyncs",
    buckets=_BUCKETS, registry=REGISTRY)
PARTIAL_SYNC_DURATION = Histogram(
    "kubeproxy_sync_partial_proxy_rules_duration_seconds",
    "SyncProxyRules latency in seconds for partial resyncs", buckets=_BUCKETS, registry=REGISTRY)
LAST_SYNC = Gauge(
    "kubeproxy_sync_proxy_rules_last_timestamp_seconds", "The last time proxy rules were successfully synced",
    registry=REGISTRY)
SYNC_FAILURES = Counter(
    "kubeproxy_sync_proxy_rules_nftables_sync_failures", "Proxy sync failures (the next sync is a full one)",
    registry=REGISTRY)
RULES = Gauge(
    "kubeproxy_sync_proxy_rules_nftables_objects", "Objects in the proxy's nftables table after the last sync",
    ["kind"], registry=REGISTRY)
MODE = Gauge("kubelite_proxy_mode", "1 for the mode the service proxy runs in", ["mode"], registry=REGISTRY)
UNSUPPORTED_PORTS = Gauge(
    "kubelite_proxy_unsupported_service_ports",
    "Service ports the proxy cannot forward in its mode (userspace mode: SCTP), after the last sync",
    ["protocol"], registry=REGISTRY)


def metrics_text() -> bytes:
    """The proxy's metrics in the Prometheus text format."""
    return generate_latest(REGISTRY)
