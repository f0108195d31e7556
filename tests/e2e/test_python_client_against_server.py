"""The official Python client (`kubernetes`) against a real `kubelite server`: CRUD, lists, watch."""

from __future__ import annotations

import ssl
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator

import pytest
from e2e_harness import Server
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

pytestmark = [pytest.mark.e2e]


@pytest.fixture(scope="module")
def api(server: Server) -> Iterator[client.ApiClient]:
    api_client = config.new_client_from_config(config_file=str(server.kubeconfig))
    try:
        yield api_client
    finally:
        api_client.close()


@pytest.fixture
def namespace(api: client.ApiClient) -> str:
    name = f"py-{uuid.uuid4().hex[:8]}"
    client.CoreV1Api(api).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    return name


def test_configmap_crud(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    created = core.create_namespaced_config_map(namespace, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="settings", labels={"app": "x"}), data={"a": "1"}))
    assert created.metadata.uid and created.metadata.resource_version
    got = core.read_namespaced_config_map("settings", namespace)
    assert got.data == {"a": "1"}
    got.data["b"] = "2"
    replaced = core.replace_namespaced_config_map("settings", namespace, got)
    assert int(replaced.metadata.resource_version) > int(created.metadata.resource_version)
    patched = core.patch_namespaced_config_map("settings", namespace, {"data": {"c": "3"}})
    assert patched.data == {"a": "1", "b": "2", "c": "3"}
    listed = core.list_namespaced_config_map(namespace, label_selector="app=x")
    assert [c.metadata.name for c in listed.items] == ["settings"]
    core.delete_namespaced_config_map("settings", namespace)
    with pytest.raises(ApiException) as exc:
        core.read_namespaced_config_map("settings", namespace)
    assert exc.value.status == 404


def test_create_twice_is_409_already_exists(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    body = client.V1Secret(metadata=client.V1ObjectMeta(name="s"), string_data={"k": "v"})
    core.create_namespaced_secret(namespace, body)
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_secret(namespace, body)
    assert exc.value.status == 409
    assert '"reason":"AlreadyExists"' in exc.value.body.replace(" ", "")


def test_generate_name_and_pagination(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    for _ in range(7):
        core.create_namespaced_config_map(namespace, client.V1ConfigMap(
            metadata=client.V1ObjectMeta(generate_name="page-")))
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = core.list_namespaced_config_map(namespace, limit=3, _continue=token)
        seen.extend(c.metadata.name for c in page.items)
        pages += 1
        token = page.metadata._continue
        if not token:
            break
    assert pages == 3
    page_names = [n for n in seen if n.startswith("page-")]
    assert len(page_names) == 7 == len(set(page_names))
    assert seen == sorted(seen)


def test_watch_sees_added_modified_deleted(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    initial = core.list_namespaced_config_map(namespace)
    events: list[tuple[str, str]] = []
    ready = threading.Event()

    def run() -> None:
        w = watch.Watch()
        ready.set()
        for event in w.stream(core.list_namespaced_config_map, namespace,
                              resource_version=initial.metadata.resource_version, timeout_seconds=20):
            if event["object"].metadata.name == "kube-root-ca.crt":
                continue  # published into every namespace, as upstream
            events.append((event["type"], event["object"].metadata.name))
            if event["type"] == "DELETED":
                w.stop()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait(5)
    core.create_namespaced_config_map(namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="w")))
    core.patch_namespaced_config_map("w", namespace, {"data": {"x": "y"}})
    core.delete_namespaced_config_map("w", namespace)
    thread.join(25)
    assert events == [("ADDED", "w"), ("MODIFIED", "w"), ("DELETED", "w")]


def test_deployment_scale_subresource(api: client.ApiClient, namespace: str) -> None:
    apps = client.AppsV1Api(api)
    apps.create_namespaced_deployment(namespace, {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"a": "b"}},
                 "template": {"metadata": {"labels": {"a": "b"}},
                              "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}})
    scale = apps.read_namespaced_deployment_scale("d", namespace)
    assert scale.spec.replicas == 1
    assert scale.status.selector == "a=b"
    apps.patch_namespaced_deployment_scale("d", namespace, {"spec": {"replicas": 4}})
    assert apps.read_namespaced_deployment("d", namespace).spec.replicas == 4


def test_unauthenticated_request_is_401(server: Server) -> None:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(f"https://127.0.0.1:{server.port}/api/v1/namespaces", context=context, timeout=10)
    assert exc.value.code == 401
    assert b'"reason":"Unauthorized"' in exc.value.read()
    with urllib.request.urlopen(f"https://127.0.0.1:{server.port}/healthz", context=context, timeout=10) as ok:
        assert ok.read() == b"ok"
