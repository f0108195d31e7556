"""Admission plugins as pure functions over a request: Pod Security checks, LimitRanger, ResourceQuota,
ServiceAccount and NodeRestriction."""

from __future__ import annotations

from typing import Any

import pytest

from kubelite.controlplane.admission import (
    limitranger,
    node_restriction,
    pod_security,
    resourcequota,
    serviceaccount,
)
from kubelite.controlplane.admission.chain import Admission, AdmissionDenied, AdmissionRequest
from kubelite.controlplane.auth.authentication import UserInfo

Obj = dict[str, Any]


def make_pod(**spec: Any) -> Obj:
    return {"metadata": {"name": "p", "namespace": "ns"},
            "spec": {"containers": [{"name": "c", "image": "i"}], **spec}}


def request(obj: Obj, objects: dict[str, Obj] | None = None, *, resource: str = "pods",
            user: UserInfo | None = None) -> AdmissionRequest:
    store = objects or {}

    def list_objects(prefix: str, key_prefix: str) -> list[Obj]:
        return [o for k, o in sorted(store.items()) if k.startswith(key_prefix)]

    async def get_object(key: str) -> Obj | None:
        return store.get(key)

    return AdmissionRequest("", resource, "Pod", "ns", obj, user, False, list_objects, get_object)


RESTRICTED_OK = make_pod(securityContext={"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                         containers=[{"name": "c", "image": "i", "securityContext": {
                             "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}])


@pytest.mark.parametrize(("pod", "level", "expected"), [
    pytest.param(make_pod(), "baseline", [], id="plain-pod-is-baseline"),
    pytest.param(make_pod(hostNetwork=True, hostPID=True), "baseline",
                 ["host namespaces (hostNetwork=true, hostPID=true)"], id="host-namespaces"),
    pytest.param(make_pod(containers=[{"name": "c", "securityContext": {"privileged": True}}]), "baseline",
                 ['privileged (container "c" must not set securityContext.privileged=true)'], id="privileged"),
    pytest.param(make_pod(volumes=[{"name": "h", "hostPath": {"path": "/"}}]), "baseline",
                 ['hostPath volumes (volume "h")'], id="hostpath"),
    pytest.param(make_pod(containers=[{"name": "c", "securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}}}]),
                 "baseline", ['non-default capabilities (container "c" must not include "SYS_ADMIN" in '
                              'securityContext.capabilities.add)'], id="capabilities"),
    pytest.param(RESTRICTED_OK, "restricted", [], id="restricted-ok"),
    pytest.param(make_pod(), "privileged", [], id="privileged-level"),
])
def test_pod_security_checks(pod: Obj, level: str, expected: list[str]) -> None:
    assert pod_security.evaluate(pod, level) == expected


def test_restricted_names_every_missing_setting() -> None:
    found = pod_security.evaluate(make_pod(), "restricted")
    assert [f.split(" (")[0] for f in found] == ["allowPrivilegeEscalation != false", "unrestricted capabilities",
                                                  "runAsNonRoot != true", "seccompProfile"]


async def test_pod_security_enforce_and_warn_labels() -> None:
    ns = {"/core/namespaces/ns": {"metadata": {"name": "ns", "labels": {
        "pod-security.kubernetes.io/enforce": "baseline", "pod-security.kubernetes.io/warn": "restricted"}}}}
    req = request(make_pod(), ns)
    await pod_security.admit(req)
    assert req.warnings and req.warnings[0].startswith('would violate PodSecurity "restricted:latest"')
    with pytest.raises(AdmissionDenied, match='violates PodSecurity "baseline:latest": host namespaces'):
        await pod_security.admit(request(make_pod(hostIPC=True), ns))


async def test_limit_ranger_defaults_and_max() -> None:
    lr = {"/core/limitranges/ns/lr": {"spec": {"limits": [
        {"type": "Container", "default": {"cpu": "500m", "memory": "64Mi"}, "defaultRequest": {"cpu": "50m"},
         "max": {"cpu": "1"},
         "min": {"cpu": "10m"}}]}}}
    pod = make_pod()
    await limitranger.admit(request(pod, lr))
    assert pod["spec"]["containers"][0]["resources"] == {"limits": {"cpu": "500m", "memory": "64Mi"},
                                                         "requests": {"cpu": "50m", "memory": "64Mi"}}
    greedy = make_pod(containers=[{"name": "c", "resources": {"limits": {"cpu": "3"}, "requests": {"cpu": "5m"}}}])
    with pytest.raises(AdmissionDenied) as exc:
        await limitranger.admit(request(greedy, lr))
    assert exc.value.message == ("[minimum cpu usage per Container is 10m, but request is 5m, maximum cpu usage "
                                 "per Container is 1, but limit is 3]")


async def test_resource_quota() -> None:
    objects = {"/core/resourcequotas/ns/q": {"metadata": {"name": "q"}, "spec": {"hard": {
        "pods": "2", "requests.cpu": "1"}}},
        "/core/pods/ns/a": make_pod(containers=[{"name": "c", "resources": {"requests": {"cpu": "600m"}}}]),
        "/core/pods/ns/done": {**make_pod(containers=[{"name": "c", "resources": {"requests": {"cpu": "900m"}}}]),
                               "status": {"phase": "Succeeded"}}}
    fits = make_pod(containers=[{"name": "c", "resources": {"requests": {"cpu": "400m"}}}])
    await resourcequota.admit(request(fits, objects))
    too_much = make_pod(containers=[{"name": "c", "resources": {"requests": {"cpu": "500m"}}}])
    with pytest.raises(AdmissionDenied, match=r"exceeded quota: q, requested: requests.cpu=500m, used: "
                                              r"requests.cpu=600m, limited: requests.cpu=1"):
        await resourcequota.admit(request(too_much, objects))
    with pytest.raises(AdmissionDenied, match=r"failed quota: q: must specify requests\.cpu for: c"):
        await resourcequota.admit(request(make_pod(), objects))


async def test_service_account_admission() -> None:
    objects = {"/core/serviceaccounts/ns/builder": {"metadata": {"name": "builder"},
                                                     "automountServiceAccountToken": False}}
    pod = make_pod(initContainers=[{"name": "init", "image": "i"}])
    await serviceaccount.admit(request(pod, objects))
    volume = pod["spec"]["volumes"][0]["name"]
    assert volume.startswith("kube-api-access-") and len(volume) == len("kube-api-access-") + 5
    for container in [*pod["spec"]["containers"], *pod["spec"]["initContainers"]]:
        assert container["volumeMounts"][0]["mountPath"] == serviceaccount.MOUNT_PATH
    opted_out = make_pod(serviceAccountName="builder")
    await serviceaccount.admit(request(opted_out, objects))
    assert "volumes" not in opted_out["spec"]
    with pytest.raises(AdmissionDenied, match='serviceaccount "ghost" not found'):
        await serviceaccount.admit(request(make_pod(serviceAccountName="ghost"), objects))


async def test_node_restriction_and_the_chain() -> None:
    node = UserInfo("system:node:n1", "", ("system:nodes",))
    with pytest.raises(AdmissionDenied, match="can only create mirror pods"):
        await node_restriction.admit(request(make_pod(nodeName="n1"), user=node))
    mirror = make_pod(nodeName="n1")
    mirror["metadata"]["annotations"] = {"kubernetes.io/config.mirror": "x"}
    await node_restriction.admit(request(mirror, user=node))
    chain = Admission(plugins=[serviceaccount.admit, pod_security.admit], list_objects=lambda p, k: [],
                      get_object=request(make_pod()).get_object)
    pod = make_pod()
    assert await chain.admit_create(group="", resource="pods", kind="Pod", namespace="ns", obj=pod,
                                    dry_run=False) == []
    assert pod["spec"]["serviceAccountName"] == "default"


def test_quota_used() -> None:
    objects = {"/core/pods/ns/a": make_pod(containers=[{"name": "c", "resources": {"requests": {"cpu": "250m"}}}]),
               "/core/pods/ns/b": make_pod(containers=[{"name": "c", "resources": {"requests": {"cpu": "250m"}}}]),
               "/core/pods/other/c": make_pod(),
               "/core/configmaps/ns/x": {"metadata": {"name": "x"}}}

    def list_objects(prefix: str, key_prefix: str) -> list[Obj]:
        return [o for k, o in objects.items() if k.startswith(key_prefix)]

    assert resourcequota.quota_used({"pods": "10", "requests.cpu": "2", "count/configmaps": "5", "secrets": "1"},
                                    "ns", list_objects) == {"pods": "2", "requests.cpu": "500m",
                                                            "count/configmaps": "1", "secrets": "0"}


@pytest.mark.parametrize("labels", [
    pytest.param({}, id="no-labels"),
    pytest.param({"kubernetes.io/metadata.name": "ns", "team": "a"}, id="other-labels"),
    pytest.param({"pod-security.kubernetes.io/enforce": "baseline"}, id="enforce"),
    pytest.param({"pod-security.kubernetes.io/warn-version": "v1.29", "x": "y"}, id="version"),
    pytest.param({"pod-security.kubernetes.io/audit": "nope"}, id="bad-level"),
])
@pytest.mark.parametrize("defaults", [
    pytest.param({m: pod_security.LevelVersion() for m in pod_security.MODES}, id="privileged-defaults"),
    pytest.param({"enforce": pod_security.LevelVersion("baseline", "v1.30"),
                  "audit": pod_security.LevelVersion("restricted"), "warn": pod_security.LevelVersion()},
                 id="configured-defaults"),
])
def test_policy_of_a_namespace_without_pod_security_labels_is_the_defaults(
        labels: dict[str, str], defaults: dict[str, pod_security.LevelVersion]) -> None:
    policy, errors = pod_security.policy_to_evaluate(labels, defaults)
    # the fast path (no pod-security label) answers what the label loop answers: the defaults, no errors
    irrelevant = {k: v for k, v in labels.items() if not k.startswith(pod_security.LABEL)}
    if irrelevant == labels:
        assert (policy, errors) == (defaults, [])
        assert policy is not defaults  # a copy: the caller's defaults are never handed out to be changed
    policy_with_marker, errors_with_marker = pod_security.policy_to_evaluate(
        {**labels, "pod-security.kubernetes.io/unrelated": "x"}, defaults)
    assert (policy_with_marker, errors_with_marker) == (policy, errors)


def test_volume_suffixes_use_every_letter_of_the_alphabet_evenly_in_every_place() -> None:
    draws = 27 * 2000
    places: list[dict[str, int]] = [{} for _ in range(5)]
    for _ in range(draws):
        suffix = serviceaccount.volume_suffix()
        assert len(suffix) == 5
        for place, char in zip(places, suffix, strict=True):
            place[char] = place.get(char, 0) + 1
    for place in places:
        assert set(place) == set(serviceaccount._CHARS)
        # 2000 expected per letter; 6 standard deviations (~270) either side
        assert all(1700 < count < 2300 for count in place.values()), place
