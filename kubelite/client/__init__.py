"""kubelite's async client library: REST, informers, work queues, leader election, events.

Every component that talks to the API server (controllers, scheduler, kubelet, service proxy) uses
this package; it follows client-go's semantics. Objects are plain JSON dicts as on the wire. It may
import only the standard library, aiohttp/orjson/PyYAML/cryptography and ``kubelite.api``.
"""

from kubelite.client.config import ClientConfig, ConfigError, in_cluster_config, load_kubeconfig
from kubelite.client.events import EventCorrelator, EventRecorder, object_reference
from kubelite.client.informer import (
    NAMESPACE_INDEX,
    HandlerRegistration,
    Informer,
    SharedInformerFactory,
    Store,
    meta_namespace_key,
    split_key,
)
from kubelite.client.leaderelection import (
    LeaderElectionConfigError,
    LeaderElectionRecord,
    LeaderElector,
    LeaseLock,
)
from kubelite.client.rest import (
    APIClient,
    APIConnectionError,
    APIStatusError,
    Resource,
    Subresource,
    WatchEvent,
    WatchStream,
    is_already_exists,
    is_conflict,
    is_gone,
    is_invalid,
    is_not_found,
)
from kubelite.client.workqueue import (
    BucketRateLimiter,
    FakeClock,
    ItemExponentialFailureRateLimiter,
    ItemFastSlowRateLimiter,
    MaxOfRateLimiter,
    RateLimitingQueue,
    RealClock,
    WorkQueue,
    default_controller_rate_limiter,
)

__all__ = [
    "NAMESPACE_INDEX",
    "APIClient",
    "APIConnectionError",
    "APIStatusError",
    "BucketRateLimiter",
    "ClientConfig",
    "ConfigError",
    "EventCorrelator",
    "EventRecorder",
    "FakeClock",
    "HandlerRegistration",
    "Informer",
    "ItemExponentialFailureRateLimiter",
    "ItemFastSlowRateLimiter",
    "LeaderElectionConfigError",
    "LeaderElectionRecord",
    "LeaderElector",
    "LeaseLock",
    "MaxOfRateLimiter",
    "RateLimitingQueue",
    "RealClock",
    "Resource",
    "SharedInformerFactory",
    "Store",
    "Subresource",
    "WatchEvent",
    "WatchStream",
    "WorkQueue",
    "default_controller_rate_limiter",
    "in_cluster_config",
    "is_already_exists",
    "is_conflict",
    "is_gone",
    "is_invalid",
    "is_not_found",
    "load_kubeconfig",
    "meta_namespace_key",
    "object_reference",
    "split_key",
]
