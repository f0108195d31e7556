"""The API server's request metrics: ``apiserver_request_total{verb,resource,code}`` and the histogram
``apiserver_request_duration_seconds{verb,resource}``, exposed exactly as ``prometheus_client``'s
``Counter`` and ``Histogram`` expose them (same names, labels, buckets, ``_created`` series).

Why not those classes: every request counts once in each, and their ``labels()`` lookup plus one lock
per counter, sum and bucket cost more per request than the rest of the bookkeeping together. Requests
are counted on the event loop's thread only, and ``collect`` runs there too (the /metrics handler), so
plain dicts and lists hold the state; the samples are built when scraped.
"""

from __future__ import annotations

import os
import time
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from typing import cast

from prometheus_client import CollectorRegistry
from prometheus_client import utils as prometheus_utils
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.samples import Sample

COUNTER_NAME = "apiserver_request"
COUNTER_HELP = "Requests by verb, resource and code"
HISTOGRAM_NAME = "apiserver_request_duration_seconds"
HISTOGRAM_HELP = "Request latency"
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
# how prometheus_client writes a bucket bound ("0.005", "1.0", "+Inf"); untyped there
_bound_text = cast(Callable[[float], str], prometheus_utils.floatToGoString)
# prometheus_client's switch for the ``_created`` series, read as it reads it
CREATED_SERIES = os.environ.get("PROMETHEUS_DISABLE_CREATED_SERIES", "False").lower() not in ("true", "1", "t")


class _Latencies:
    __slots__ = ("counts", "created", "sum")

    def __init__(self, buckets: int) -> None:
        self.counts = [0] * buckets  # not cumulative: the exposition adds them up
        self.sum = 0.0
        self.created = time.time()


class RequestMetrics:
    """Counts each request once (``observe``) and is a collector of ``registry``."""

    def __init__(self, registry: CollectorRegistry, *, buckets: Sequence[float] = BUCKETS,
                 created_series: bool = CREATED_SERIES) -> None:
        self.upper_bounds = (*(float(b) for b in buckets), prometheus_utils.INF)
        self.created_series = created_series  # prometheus_client leaves them out when told to
        self._requests: dict[tuple[str, str, str], list[float]] = {}  # labels -> [count, created]
        self._latencies: dict[tuple[str, str], _Latencies] = {}
        registry.register(self)

    def observe(self, verb: str, resource: str, code: int, seconds: float) -> None:
        key = (verb, resource, str(code))
        counted = self._requests.get(key)
        if counted is None:
            counted = self._requests[key] = [0.0, time.time()]
        counted[0] += 1
        latencies = self._latencies.get((verb, resource))
        if latencies is None:
            latencies = self._latencies[verb, resource] = _Latencies(len(self.upper_bounds))
        # the first bucket whose bound is >= seconds, as Histogram.observe picks it
        latencies.counts[bisect_left(self.upper_bounds, seconds)] += 1
        latencies.sum += seconds

    def describe(self) -> Iterator[Metric]:
        """The metric names, for the registry's duplicate check (as Counter and Histogram describe theirs)."""
        yield CounterMetricFamily(COUNTER_NAME, COUNTER_HELP, labels=("verb", "resource", "code"))
        yield HistogramMetricFamily(HISTOGRAM_NAME, HISTOGRAM_HELP, labels=("verb", "resource"))

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(COUNTER_NAME, COUNTER_HELP, labels=("verb", "resource", "code"))
        for labels, (count, created) in list(self._requests.items()):
            requests.add_metric(labels, count, created if self.created_series else None)
        yield requests
        latency = HistogramMetricFamily(HISTOGRAM_NAME, HISTOGRAM_HELP, labels=("verb", "resource"))
        bounds = [_bound_text(b) for b in self.upper_bounds]
        for (verb, resource), latencies in list(self._latencies.items()):
            cumulative, total = [], 0.0
            for bound, count in zip(bounds, latencies.counts, strict=True):
                total += count
                cumulative.append((bound, total))
            latency.add_metric((verb, resource), cumulative, latencies.sum)
            if self.created_series:
                latency.samples.append(Sample(HISTOGRAM_NAME + "_created", {"verb": verb, "resource": resource},
                                              latencies.created))
        yield latency
