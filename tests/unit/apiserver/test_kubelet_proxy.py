"""The API server's kubelet-backed subresources: upstream's container rules, option checks, kubelet address."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from multidict import MultiDict

from kubelite.controlplane.apiserver.errors import APIError
from kubelite.controlplane.apiserver.kubelet_proxy import (
    _status_from_kubelet,
    ensure_kubelet_client_certificate,
    kubelet_address,
    log_params,
    stream_params,
    validate_container,
)
from kubelite.controlplane.auth.pki import ensure_pki


def pod(*containers: str, init: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"metadata": {"name": "web"}, "spec": {"containers": [{"name": c} for c in containers],
                                                  "initContainers": [{"name": c} for c in init]}}


def test_the_only_container_is_the_default() -> None:
    assert validate_container("", pod("app")) == "app"
    assert validate_container("setup", pod("app", init=("setup",))) == "setup"


@pytest.mark.parametrize(("container", "spec", "message"), [
    pytest.param("", pod("a", "b", init=("i",)),
                 "a container name must be specified for pod web, choose one of: [i a b]", id="ambiguous"),
    pytest.param("", pod(), "a container name must be specified for pod web", id="no-containers"),
    pytest.param("nope", pod("a"), "container nope is not valid for pod web", id="unknown"),
])
def test_container_errors_are_upstream_bad_requests(container: str, spec: dict[str, Any], message: str) -> None:
    with pytest.raises(APIError) as caught:
        validate_container(container, spec)
    assert (caught.value.code, caught.value.message) == (400, message)


def test_log_options_become_the_kubelet_query() -> None:
    query = MultiDict(follow="true", tailLines="10", sinceSeconds="5", timestamps="1", limitBytes="100",
                      previous="false", container="ignored")
    assert log_params(query, "web") == {"follow": "true", "timestamps": "true", "sinceSeconds": "5",
                                        "tailLines": "10", "limitBytes": "100"}


@pytest.mark.parametrize(("query", "fragment"), [
    pytest.param({"tailLines": "-1"}, "tailLines: Invalid value: -1: must be greater than or equal to 0", id="tail"),
    pytest.param({"limitBytes": "0"}, "limitBytes: Invalid value: 0: must be greater than 0", id="limit"),
    pytest.param({"sinceSeconds": "0"}, "sinceSeconds: Invalid value: 0: must be greater than 0", id="since"),
    pytest.param({"sinceSeconds": "5", "sinceTime": "2026-01-01T00:00:00Z"},
                 "at most one of `sinceTime` or `sinceSeconds` may be specified", id="both-since"),
])
def test_bad_log_options_are_invalid(query: dict[str, str], fragment: str) -> None:
    with pytest.raises(APIError) as caught:
        log_params(MultiDict(query), "web")
    assert caught.value.code == 422
    assert caught.value.message.startswith('PodLogOptions "web" is invalid: ')
    assert fragment in caught.value.message


def test_a_non_integer_option_is_a_bad_request() -> None:
    with pytest.raises(APIError) as caught:
        log_params(MultiDict(tailLines="ten"), "web")
    assert caught.value.code == 400


def test_stream_params_as_upstream() -> None:
    exec_query = MultiDict([("command", "sh"), ("command", "-c"), ("command", "echo hi"), ("stdin", "true"),
                            ("stdout", "true"), ("tty", "false"), ("container", "c")])
    assert stream_params(exec_query, "exec") == [("stdin", "1"), ("stdout", "1"), ("command", "sh"),
                                                 ("command", "-c"), ("command", "echo hi")]
    assert stream_params(MultiDict(stdout="1", command="x"), "attach") == [("stdout", "1")]
    assert stream_params(MultiDict([("ports", "80,8080"), ("ports", "53")]), "portforward") == [
        ("port", "80,8080,53")]
    with pytest.raises(APIError, match="must be a port number"):
        stream_params(MultiDict(ports="70000"), "portforward")


def test_kubelet_address_prefers_internal_ip_and_the_advertised_port() -> None:
    node = {"metadata": {"name": "n1"}, "status": {
        "addresses": [{"type": "Hostname", "address": "n1"}, {"type": "InternalIP", "address": "10.0.0.5"}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 11250}}}}
    assert kubelet_address(node) == ("10.0.0.5", 11250)
    assert kubelet_address({"metadata": {"name": "n2"}, "status": {
        "addresses": [{"type": "Hostname", "address": "n2"}]}}) == ("n2", 10250)
    with pytest.raises(APIError, match="node n3 has no address"):
        kubelet_address({"metadata": {"name": "n3"}, "status": {}})


def test_kubelet_errors_become_status() -> None:
    error = _status_from_kubelet(400, b'container "c" in pod "p" is waiting to start: ContainerCreating\n')
    assert (error.code, error.reason, error.message) == (
        400, "BadRequest", 'container "c" in pod "p" is waiting to start: ContainerCreating')
    assert _status_from_kubelet(404, b"pod not found").reason == "NotFound"


def test_kubelet_client_certificate_is_issued_once_by_the_client_ca(tmp_path: Path) -> None:
    pki = ensure_pki(tls_dir=tmp_path / "tls", dns_names=[], ip_addresses=[])
    cert_path, key_path = ensure_kubelet_client_certificate(pki)
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(pki.client_ca_pem()))
    assert cert.subject.rfc4514_string() == "CN=kube-apiserver-kubelet-client,O=system:masters"
    assert key_path.stat().st_mode & 0o777 == 0o600
    first = cert_path.read_bytes()
    assert ensure_kubelet_client_certificate(pki)[0].read_bytes() == first
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=300)  # within 90 days of its expiry
    assert ensure_kubelet_client_certificate(pki, now=later)[0].read_bytes() != first
