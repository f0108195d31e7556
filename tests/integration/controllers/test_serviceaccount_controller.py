"""The ServiceAccount controller against a real kubelite server: every active namespace gets a
ServiceAccount ``default``, a deleted one comes back, and a terminating namespace is left alone.

The server runs with ``--disable-controllers``: nothing else creates ServiceAccounts, and a deleted
namespace stays Terminating (no namespace controller finalizes it), which the last test relies on.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from controller_harness import eventually, running
from e2e_harness import Server

from kubelite.client import APIClient, APIStatusError, Resource, is_not_found
from kubelite.controlplane.controllers.serviceaccount import ServiceAccountController

pytestmark = [pytest.mark.integration]

Obj = dict[str, Any]


@pytest.fixture
async def namespaces(client: APIClient) -> AsyncIterator[list[str]]:
    """Names of namespaces a test creates; deleted afterwards (they stay Terminating: no namespace controller)."""
    created: list[str] = []
    yield created
    resource = client.resource("", "v1", "namespaces", namespaced=False)
    for name in created:
        with contextlib.suppress(APIStatusError):
            await resource.delete(name)


def service_accounts(client: APIClient) -> Resource:
    return client.resource("", "v1", "serviceaccounts")


async def default_sa(client: APIClient, namespace: str) -> Obj | None:
    try:
        found: Obj = await service_accounts(client).get("default", namespace=namespace)
    except APIStatusError as exc:
        if is_not_found(exc):
            return None
        raise
    return found


async def create_namespace(client: APIClient, namespaces: list[str]) -> str:
    name = f"sa-{uuid.uuid4().hex[:10]}"
    namespaces.append(name)
    await client.resource("", "v1", "namespaces", namespaced=False).create({"metadata": {"name": name}})
    return name


@pytest.mark.parametrize("namespace", [
    pytest.param("default", id="default"),
    pytest.param("kube-system", id="kube-system"),
    pytest.param("kube-public", id="kube-public"),
])
async def test_namespaces_that_existed_before_the_controller_started_get_a_default_account(
        client: APIClient, namespace: str) -> None:
    async with running(ServiceAccountController(client)):
        sa = await eventually(lambda: default_sa(client, namespace), what=f"the default ServiceAccount in {namespace}")
    assert sa["metadata"]["namespace"] == namespace


async def test_a_namespace_created_with_kubectl_gets_a_default_account(
        client: APIClient, server: Server, namespaces: list[str]) -> None:
    name = f"sa-kubectl-{uuid.uuid4().hex[:8]}"
    namespaces.append(name)
    async with running(ServiceAccountController(client)):
        await asyncio.to_thread(server.kubectl, "create", "namespace", name)
        await eventually(lambda: default_sa(client, name), what=f"the default ServiceAccount in {name}")
        listed = await asyncio.to_thread(server.kubectl, "get", "serviceaccounts", "-n", name, "-o", "name")
    assert listed.stdout.split() == ["serviceaccount/default"]


async def test_a_deleted_default_account_is_created_again(client: APIClient, namespaces: list[str]) -> None:
    async with running(ServiceAccountController(client)):
        name = await create_namespace(client, namespaces)
        first = await eventually(lambda: default_sa(client, name), what="the default ServiceAccount")
        await service_accounts(client).delete("default", namespace=name)

        async def recreated() -> Obj | None:
            sa = await default_sa(client, name)
            return sa if sa is not None and sa["metadata"]["uid"] != first["metadata"]["uid"] else None

        await eventually(recreated, what="the default ServiceAccount to be created again")


async def test_other_accounts_are_left_alone(client: APIClient, namespaces: list[str]) -> None:
    async with running(ServiceAccountController(client)):
        name = await create_namespace(client, namespaces)
        await eventually(lambda: default_sa(client, name), what="the default ServiceAccount")
        await service_accounts(client).create({"metadata": {"name": "builder"}}, namespace=name)
        await service_accounts(client).delete("builder", namespace=name)
        # the deletion of "builder" is not acted on; a later "default" deletion is, and shows the
        # controller has processed the events in between
        await service_accounts(client).delete("default", namespace=name)
        await eventually(lambda: default_sa(client, name), what="the default ServiceAccount again")
        listed = (await service_accounts(client).list(namespace=name))["items"]
    assert [sa["metadata"]["name"] for sa in listed] == ["default"]


async def test_a_terminating_namespace_does_not_get_its_account_back(client: APIClient, namespaces: list[str]) -> None:
    # The API server also refuses creates in a terminating namespace, so this proves the end-to-end
    # behaviour (and that the refusal does not wedge the controller), not which layer enforces it.
    controller = ServiceAccountController(client)
    # one worker: keys are reconciled in the order the deletions arrive, so once the active namespace's
    # account is back the terminating namespace's key has been reconciled too
    async with running(controller, workers=1):
        terminating = await create_namespace(client, namespaces)
        active = await create_namespace(client, namespaces)
        for name in (terminating, active):
            await eventually(functools.partial(default_sa, client, name), what=f"the default ServiceAccount in {name}")
        await client.resource("", "v1", "namespaces", namespaced=False).delete(terminating)

        async def seen_terminating() -> bool:
            ns = controller.namespace_informer.store.get(terminating)
            return ns is not None and bool(ns["metadata"].get("deletionTimestamp"))

        await eventually(seen_terminating, what="the namespace to be Terminating in the controller's cache")
        await service_accounts(client).delete("default", namespace=terminating)
        await service_accounts(client).delete("default", namespace=active)
        await eventually(lambda: default_sa(client, active), what="the active namespace's account to come back")
        assert await default_sa(client, terminating) is None
