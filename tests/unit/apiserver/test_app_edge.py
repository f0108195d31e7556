"""The HTTP edge's per-request memos give exactly what the functions they remember give."""

from __future__ import annotations

from typing import Any, cast

import orjson
import pytest
from aiohttp.test_utils import make_mocked_request
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from kubelite.api import managed_fields
from kubelite.controlplane.apiserver import app as edge
from kubelite.controlplane.apiserver import request_metrics
from kubelite.controlplane.apiserver.errors import APIError
from kubelite.controlplane.apiserver.registry import Registry, WriteOptions
from kubelite.controlplane.apiserver.request import parse_path, path_parts
from kubelite.controlplane.apiserver.resources import ResourceTable


def server() -> edge.APIServer:
    # the edge helpers under test never reach the registry
    return edge.APIServer(registry=cast(Registry, None), table=ResourceTable(), advertise_address="127.0.0.1:6443")


MEDIA = st.sampled_from([
    "application/json", "*/*", "application/*", "application/yaml", "application/vnd.kubernetes.protobuf",
    "application/json;as=Table;v=v1;g=meta.k8s.io", "application/json;as=Table;v=v1beta1;g=meta.k8s.io",
    "application/json; as=Table; g=meta.k8s.io", "application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io",
    "application/json;as=PartialObjectMetadataList;g=meta.k8s.io", "application/json;as=Table",
    "text/html", ""])
ACCEPT = st.lists(MEDIA, max_size=4).map(", ".join)


@given(ACCEPT)
def test_representation_is_what_render_chose_before(accept: str) -> None:
    expected = (edge.TABLE if edge.wants_table(accept) else
                edge.PARTIAL_METADATA if edge.wants_partial_metadata(accept) else edge.PLAIN)
    assert edge.representation(accept) == expected
    api = server()
    request = make_mocked_request("GET", "/api/v1/pods", headers={"Accept": accept})
    assert api.representation(request) == expected
    assert api.representation(request) == expected  # from the memo


def test_representation_memo_starts_again_when_full() -> None:
    api = server()
    for n in range(edge.MEMO_SIZE + 5):
        accept = f"application/json;as=Table;g=meta.k8s.io;x={n}"
        assert api.representation(make_mocked_request("GET", "/", headers={"Accept": accept})) == edge.TABLE
    assert len(api._representations) <= edge.MEMO_SIZE


def fresh_write_options(query: dict[str, str], user_agent: str) -> WriteOptions:
    """What write_options built for every request before it kept its answers."""
    dry_run = [query["dryRun"]] if "dryRun" in query else []
    manager = query.get("fieldManager")
    if manager is None:
        manager = managed_fields.default_field_manager(user_agent)
    return WriteOptions(dry_run=bool(dry_run), field_validation=query.get("fieldValidation", "Warn") or "Warn",
                        field_manager=manager)


@settings(max_examples=200)
@given(dry_run=st.sampled_from([None, "All"]), validation=st.sampled_from([None, "", "Strict", "Warn", "Ignore"]),
       manager=st.one_of(st.none(), st.text("abc-/", min_size=1, max_size=8)),
       user_agent=st.sampled_from(["", "kubectl/v1.32.0 (linux/amd64) kubernetes/abc", "kube-scheduler/v1.32",
                                   "python-requests", "k\u00e9/x", "a\tb/c"]))
def test_write_options_are_the_same_with_the_memo(dry_run: str | None, validation: str | None,
                                                   manager: str | None, user_agent: str) -> None:
    query = {k: v for k, v in (("dryRun", dry_run), ("fieldValidation", validation), ("fieldManager", manager))
             if v is not None}
    api = server()
    path = "/api/v1/namespaces/default/configmaps?" + "&".join(f"{k}={v}" for k, v in query.items())
    request = make_mocked_request("POST", path, headers={"User-Agent": user_agent})
    expected = fresh_write_options(dict(request.query), user_agent)
    assert api.write_options(request) == expected
    assert api.write_options(request) == expected


def test_write_options_still_refuse_bad_values() -> None:
    api = server()
    with pytest.raises(APIError) as bad_dry_run:
        api.write_options(make_mocked_request("POST", "/api/v1/pods?dryRun=Some"))
    assert bad_dry_run.value.code == 400
    with pytest.raises(APIError) as bad_manager:
        api.write_options(make_mocked_request("POST", "/api/v1/pods?fieldManager=" + "m" * 129))
    assert bad_manager.value.code == 422


def test_json_responses_do_not_share_headers() -> None:
    warned = edge.json_response({"a": 1}, 201, warnings=['say "x"'])
    plain = edge.json_response({"a": 1})
    discovery = edge.json_response({}, content_type="application/json;g=apidiscovery.k8s.io;v=v2")
    assert warned.status == 201 and warned.headers["Warning"] == '299 - "say \\"x\\""'
    assert "Warning" not in plain.headers and plain.headers["Content-Type"] == "application/json"
    assert discovery.headers["Content-Type"] == "application/json;g=apidiscovery.k8s.io;v=v2"
    plain.headers["X-Changed"] = "1"
    assert "X-Changed" not in edge.json_response({}).headers
    assert orjson.loads(cast(bytes, plain.body)) == {"a": 1}


async def test_version_document() -> None:
    major, minor, patch = edge.KUBERNETES_VERSION
    response = await server().version(make_mocked_request("GET", "/version"))
    body: dict[str, Any] = orjson.loads(cast(bytes, response.body))
    assert body["major"] == str(major) and body["minor"] == str(minor)
    assert body["gitVersion"].startswith(f"v{major}.{minor}.{patch}+kubelite.")
    assert response.headers["Content-Type"] == "application/json"


SEGMENT = st.sampled_from(["api", "apis", "v1", "apps", "namespaces", "default", "kube-system", "pods", "p1",
                           "status", "binding", "finalize", "watch", "events", "deployments", "scale", "nodes",
                           "x", ""])


@settings(max_examples=500)
@given(st.lists(SEGMENT, max_size=8), st.booleans())
def test_parse_path_with_its_parts_is_parse_path(segments: list[str], trailing: bool) -> None:
    path = "/" + "/".join(segments) + ("/" if trailing else "")
    table = ResourceTable()

    def outcome(parts: list[str] | None) -> object:
        try:
            return parse_path(table, path, parts)
        except APIError as exc:
            return exc.code, exc.message

    assert outcome(path_parts(path)) == outcome(None)


def prometheus_reference(calls: list[tuple[str, str, int, float]]) -> CollectorRegistry:
    """The same requests counted by prometheus_client's own Counter and Histogram, as the edge did before."""
    registry = CollectorRegistry()
    requests = Counter(request_metrics.COUNTER_NAME, request_metrics.COUNTER_HELP, ["verb", "resource", "code"],
                       registry=registry)
    latency = Histogram(request_metrics.HISTOGRAM_NAME, request_metrics.HISTOGRAM_HELP, ["verb", "resource"],
                        registry=registry, buckets=request_metrics.BUCKETS)
    for verb, resource, code, seconds in calls:
        requests.labels(verb, resource, str(code)).inc()
        latency.labels(verb, resource).observe(seconds)
    return registry


def without_created_values(text: bytes) -> list[bytes]:
    """The exposition with the ``_created`` timestamps blanked (the series themselves stay)."""
    return [line.rpartition(b" ")[0] if b"_created" in line else line for line in text.splitlines()]


BOUNDS = [*request_metrics.BUCKETS, 0.0, 100.0, 1e-9]
CALLS = st.lists(st.tuples(st.sampled_from(["create", "get", "list", "watch", "patch"]),
                           st.sampled_from(["pods", "events", "-", "nodes"]),
                           st.sampled_from([200, 201, 404, 409, 500]),
                           st.one_of(st.sampled_from(BOUNDS), st.floats(0, 60, allow_nan=False))),
                 max_size=30)


@settings(max_examples=200)
@given(CALLS)
def test_request_metrics_expose_what_counter_and_histogram_expose(calls: list[tuple[str, str, int, float]]) -> None:
    registry = CollectorRegistry()
    counted = request_metrics.RequestMetrics(registry)
    for call in calls:
        counted.observe(*call)
    assert without_created_values(generate_latest(registry)) == \
        without_created_values(generate_latest(prometheus_reference(calls)))


def test_request_metrics_as_the_edge_counts_them() -> None:
    api = server()
    api.request_metrics.observe("create", "pods", 201, 0.003)
    api.request_metrics.observe("create", "pods", 201, 0.2)
    text = generate_latest(api.metrics)
    assert b'apiserver_request_total{code="201",resource="pods",verb="create"} 2.0' in text
    assert b'apiserver_request_duration_seconds_bucket{le="0.005",resource="pods",verb="create"} 1.0' in text
    assert b'apiserver_request_created{code="201",resource="pods",verb="create"}' in text


def test_request_metrics_without_created_series() -> None:
    registry = CollectorRegistry()
    request_metrics.RequestMetrics(registry, created_series=False).observe("get", "pods", 200, 0.1)
    assert b"_created" not in generate_latest(registry)


def test_request_metric_names_are_taken_in_the_registry() -> None:
    registry = CollectorRegistry()
    request_metrics.RequestMetrics(registry)
    with pytest.raises(ValueError):
        Counter(request_metrics.COUNTER_NAME, "again", registry=registry)
