"""pods/binding on a real server: upstream's BindingREST, straight through storage, no field manager."""

from __future__ import annotations

from typing import Any

import pytest

from kubelite.client import APIClient, APIStatusError

pytestmark = [pytest.mark.integration]


def binding(name: str, node: str, **metadata: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name, **metadata},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node}}


async def make_pod(client: APIClient, namespace: str, name: str, **spec: Any) -> dict[str, Any]:
    pods = client.resource("", "v1", "pods")
    pod: dict[str, Any] = await pods.create(
        # a scheduler name nobody serves: the server's scheduler leaves the pod alone (no status writes)
        {"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "i"}],
                                              "schedulerName": "nobody", **spec}},
        namespace=namespace)
    return pod


async def test_binding_sets_node_condition_and_annotations_without_managed_fields(
        client: APIClient, namespace: str) -> None:
    pods = client.resource("", "v1", "pods")
    created = await make_pod(client, namespace, "p")
    answer = await pods.subresource("binding").create(
        "p", binding("p", "n1", uid=created["metadata"]["uid"], annotations={"example.com/why": "bench"}),
        namespace=namespace)
    assert answer["kind"] == "Status" and answer["status"] == "Success"
    bound = await pods.get("p", namespace=namespace)
    assert bound["spec"]["nodeName"] == "n1"
    scheduled = [c for c in bound["status"]["conditions"] if c["type"] == "PodScheduled"]
    assert len(scheduled) == 1 and scheduled[0]["status"] == "True" and scheduled[0]["lastTransitionTime"]
    assert bound["metadata"]["annotations"] == {"example.com/why": "bench"}
    # as upstream: the binding is no field manager's write
    assert bound["metadata"]["managedFields"] == created["metadata"]["managedFields"]
    assert int(bound["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])


async def test_a_bound_pod_cannot_be_bound_again(client: APIClient, namespace: str) -> None:
    pods = client.resource("", "v1", "pods")
    await make_pod(client, namespace, "p")
    await pods.subresource("binding").create("p", binding("p", "n1"), namespace=namespace)
    with pytest.raises(APIStatusError) as exc:
        await pods.subresource("binding").create("p", binding("p", "n2"), namespace=namespace)
    assert exc.value.code == 409
    assert exc.value.message == 'Operation cannot be fulfilled on pods/binding "p": pod p is already assigned to ' \
                                'node "n1"'
    assert (await pods.get("p", namespace=namespace))["spec"]["nodeName"] == "n1"


@pytest.mark.parametrize(("body", "code", "words"), [
    pytest.param(binding("other", "n1"), 400, "name in URL does not match name in Binding object", id="name"),
    pytest.param({**binding("p", "n1"), "target": {"kind": "Pod", "name": "n1"}}, 422,
                 'target.kind: Unsupported value: "Pod"', id="target-kind"),
    pytest.param({**binding("p", ""), "target": {"kind": "Node"}}, 422, "target.name: Required value", id="no-node"),
    pytest.param(binding("p", "n1", uid="not-the-pod"), 409, "Precondition failed: UID in precondition", id="uid"),
])
async def test_a_bad_binding_changes_nothing(client: APIClient, namespace: str, body: dict[str, Any], code: int,
                                             words: str) -> None:
    pods = client.resource("", "v1", "pods")
    created = await make_pod(client, namespace, "p")
    with pytest.raises(APIStatusError) as exc:
        await pods.subresource("binding").create("p", body, namespace=namespace)
    assert exc.value.code == code and words in exc.value.message
    after = await pods.get("p", namespace=namespace)
    assert after["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    assert "nodeName" not in after["spec"]


async def test_scheduling_gates_and_missing_pods_refuse_a_binding(client: APIClient, namespace: str) -> None:
    pods = client.resource("", "v1", "pods")
    await make_pod(client, namespace, "gated", schedulingGates=[{"name": "example.com/wait"}])
    with pytest.raises(APIStatusError) as exc:
        await pods.subresource("binding").create("gated", binding("gated", "n1"), namespace=namespace)
    assert exc.value.code == 409 and "has non-empty .spec.schedulingGates" in exc.value.message
    with pytest.raises(APIStatusError) as exc:
        await pods.subresource("binding").create("absent", binding("absent", "n1"), namespace=namespace)
    assert exc.value.code == 404


async def test_a_dry_run_binding_writes_nothing(client: APIClient, namespace: str) -> None:
    pods = client.resource("", "v1", "pods")
    created = await make_pod(client, namespace, "p")
    raw = await client.request("POST", f"/api/v1/namespaces/{namespace}/pods/p/binding?dryRun=All",
                               body=binding("p", "n1"))
    assert raw["status"] == "Success"
    after = await pods.get("p", namespace=namespace)
    assert after["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
