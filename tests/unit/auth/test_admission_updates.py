"""Admission on updates and the configurable parts: NodeRestriction on a node's own labels and taints,
ResourceQuota on what an update adds and its compare-and-swap charge, LimitRanger on claims, PodSecurity
on significant pod updates, audit annotations, exemptions, versions, namespace labels and the
AdmissionConfiguration file."""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any

import pytest

from kubelite.controlplane.admission import (
    chain,
    limitranger,
    namespace_lifecycle,
    node_restriction,
    pod_security,
    resourcequota,
)
from kubelite.controlplane.admission.chain import UPDATE, Admission, AdmissionDenied, AdmissionRequest
from kubelite.controlplane.admission.config import AdmissionConfigError, load_admission_configuration
from kubelite.controlplane.auth.authentication import UserInfo

Obj = dict[str, Any]
NODE = UserInfo("system:node:n1", "", ("system:nodes",))


def make_pod(**spec: Any) -> Obj:
    return {"metadata": {"name": "p", "namespace": "ns"},
            "spec": {"containers": [{"name": "c", "image": "i"}], **spec}}


def request(obj: Obj, objects: dict[str, Obj] | None = None, *, resource: str = "pods", old: Obj | None = None,
            user: UserInfo | None = None, subresource: str = "") -> AdmissionRequest:
    store = objects if objects is not None else {}

    def list_objects(prefix: str, key_prefix: str) -> list[Obj]:
        return [o for k, o in sorted(store.items()) if k.startswith(key_prefix)]

    async def get_object(key: str) -> Obj | None:
        return store.get(key)

    req = AdmissionRequest("", resource, "X", "ns", obj, user, False, list_objects, get_object,
                           subresource=subresource)
    if old is not None:
        req.operation, req.old_obj = UPDATE, old
    return req


def node(labels: dict[str, str], taints: list[Obj] | None = None) -> Obj:
    return {"metadata": {"name": "n1", "labels": labels}, "spec": {"taints": taints or []}}


@pytest.mark.parametrize(("labels", "message"), [
    pytest.param({"kubernetes.io/hostname": "n1", "node.kubernetes.io/instance-type": "big", "team": "a"}, None,
                 id="kubelet-and-own-labels"),
    pytest.param({"node-restriction.kubernetes.io/secure": "true"},
                 'node "n1" is not allowed to modify labels: node-restriction.kubernetes.io/secure',
                 id="node-restriction-prefix"),
    pytest.param({"node-role.kubernetes.io/control-plane": "", "example.k8s.io/x": "1"},
                 'node "n1" is not allowed to modify labels: example.k8s.io/x, node-role.kubernetes.io/control-plane',
                 id="kubernetes-namespaces"),
])
async def test_node_may_change_only_kubelet_labels_on_itself(labels: dict[str, str], message: str | None) -> None:
    old = node({"kubernetes.io/hostname": "n1"})
    new = node({**old["metadata"]["labels"], **labels})
    req = request(new, resource="nodes", old=old, user=NODE)
    if message is None:
        await node_restriction.admit(req)
    else:
        with pytest.raises(AdmissionDenied) as exc:
            await node_restriction.admit(req)
        assert exc.value.message == message


async def test_node_may_not_drop_a_taint_or_touch_another_node() -> None:
    old = node({}, [{"key": "dedicated", "effect": "NoSchedule"}])
    with pytest.raises(AdmissionDenied, match='node "n1" is not allowed to modify taints'):
        await node_restriction.admit(request(node({}), resource="nodes", old=old, user=NODE, subresource="status"))
    other = {"metadata": {"name": "n2"}, "spec": {}}
    with pytest.raises(AdmissionDenied, match='node "n1" is not allowed to modify node "n2"'):
        await node_restriction.admit(request(other, resource="nodes", old=copy.deepcopy(other), user=NODE))
    # creating itself with a restricted label is refused with upstream's create wording
    with pytest.raises(AdmissionDenied, match=r"is not allowed to set the following labels: "
                                              r"node-restriction\.kubernetes\.io/a"):
        await node_restriction.admit(request(node({"node-restriction.kubernetes.io/a": "1"}), resource="nodes",
                                             user=NODE))
    # an admin changes anything
    await node_restriction.admit(request(node({}), resource="nodes", old=old, user=UserInfo("admin", "", ())))


async def test_node_updates_of_pods() -> None:
    bound, elsewhere = make_pod(nodeName="n1"), make_pod(nodeName="n2")
    await node_restriction.admit(request(bound, old=bound, user=NODE, subresource="status"))
    with pytest.raises(AdmissionDenied, match=r"can only update pod status for pods with spec\.nodeName set to itself"):
        await node_restriction.admit(request(elsewhere, old=elsewhere, user=NODE, subresource="status"))
    with pytest.raises(AdmissionDenied, match='unexpected operation "UPDATE"'):
        await node_restriction.admit(request(bound, old=bound, user=NODE))


def service(kind: str, ports: int = 1) -> Obj:
    return {"metadata": {"name": "s", "namespace": "ns"},
            "spec": {"type": kind, "ports": [{"port": 80 + i} for i in range(ports)]}}


async def test_quota_checks_what_a_service_update_adds() -> None:
    objects = {"/core/resourcequotas/ns/q": {"metadata": {"name": "q", "resourceVersion": "1"},
                                             "spec": {"hard": {"services.nodeports": "1",
                                                               "services.loadbalancers": "0"}}}}
    old = service("ClusterIP", ports=2)
    objects["/core/services/ns/s"] = old
    with pytest.raises(AdmissionDenied) as exc:
        await resourcequota.admit(request(service("NodePort", ports=2), objects, resource="services", old=old))
    assert exc.value.message == ("exceeded quota: q, requested: services.nodeports=2, used: services.nodeports=0, "
                                 "limited: services.nodeports=1")
    with pytest.raises(AdmissionDenied, match=r"requested: services\.loadbalancers=1"):
        await resourcequota.admit(request(service("LoadBalancer"), objects, resource="services", old=old))
    # a change that adds nothing constrained (ports on a ClusterIP service) passes
    await resourcequota.admit(request(service("ClusterIP", ports=3), objects, resource="services", old=old))


def claim(size: str) -> Obj:
    return {"metadata": {"name": "c", "namespace": "ns"},
            "spec": {"storageClassName": "fast", "resources": {"requests": {"storage": size}}}}


async def test_quota_and_limit_range_on_claim_growth() -> None:
    objects = {"/core/resourcequotas/ns/q": {"metadata": {"name": "q"}, "spec": {"hard": {
        "fast.storageclass.storage.k8s.io/requests.storage": "3Gi"}}},
        "/core/persistentvolumeclaims/ns/c": claim("2Gi")}
    await resourcequota.admit(request(claim("3Gi"), objects, resource="persistentvolumeclaims", old=claim("2Gi")))
    with pytest.raises(AdmissionDenied, match=r"requested: fast.storageclass.storage.k8s.io/requests.storage=2Gi"):
        await resourcequota.admit(request(claim("4Gi"), objects, resource="persistentvolumeclaims", old=claim("2Gi")))
    ranges = {"/core/limitranges/ns/lr": {"spec": {"limits": [{"type": "PersistentVolumeClaim",
                                                               "min": {"storage": "1Gi"}, "max": {"storage": "5Gi"}}]}}}
    with pytest.raises(AdmissionDenied) as exc:
        await limitranger.admit(request(claim("6Gi"), ranges, resource="persistentvolumeclaims", old=claim("2Gi")))
    assert exc.value.message == "maximum storage usage per PersistentVolumeClaim is 5Gi, but request is 6Gi"
    with pytest.raises(AdmissionDenied, match="minimum storage usage per PersistentVolumeClaim is 1Gi, but request"):
        await limitranger.admit(request(claim("500Mi"), ranges, resource="persistentvolumeclaims"))
    # pod updates are not LimitRanger's business (resources are immutable)
    pod = make_pod()
    await limitranger.admit(request(pod, {"/core/limitranges/ns/x": {"spec": {"limits": [
        {"type": "Container", "max": {"cpu": "1"}}]}}}, old=make_pod()))


async def test_racing_creates_cannot_both_take_the_last_slot() -> None:
    """Two creates checked concurrently against one quota slot: the compare-and-swap on status.used lets
    exactly one charge it; the other re-reads the charged quota and is refused."""
    quota: Obj = {"metadata": {"name": "q", "resourceVersion": "1"}, "spec": {"hard": {"pods": "1"}},
                  "status": {"used": {"pods": "0"}}}
    objects: dict[str, Obj] = {"/core/resourcequotas/ns/q": quota}

    async def read_fresh(key: str) -> Obj | None:
        await asyncio.sleep(0)  # both requests read before either writes
        return copy.deepcopy(objects.get(key))

    async def write(namespace: str, name: str, version: str, used: dict[str, str]) -> bool:
        await asyncio.sleep(0)
        if version != quota["metadata"]["resourceVersion"]:
            return False
        quota["status"]["used"] = used
        quota["metadata"]["resourceVersion"] = str(int(version) + 1)
        return True

    def racer() -> AdmissionRequest:
        req = request(make_pod(), objects)
        req.read_fresh, req.write_quota_used = read_fresh, write
        return req

    results = await asyncio.gather(resourcequota.admit(racer()), resourcequota.admit(racer()),
                                   return_exceptions=True)
    assert sorted(type(r).__name__ for r in results) == ["AdmissionDenied", "NoneType"]
    assert quota["status"]["used"] == {"pods": "1"}
    # a dry run checks but charges nothing
    quota["status"]["used"] = {"pods": "0"}
    dry = racer()
    dry.dry_run = True
    await resourcequota.admit(dry)
    assert quota["status"]["used"] == {"pods": "0"}


def namespace(**labels: str) -> dict[str, Obj]:
    return {"/core/namespaces/ns": {"metadata": {"name": "ns", "labels": {
        f"pod-security.kubernetes.io/{k.replace('_', '-')}": v for k, v in labels.items()}}}}


async def test_pod_security_audit_annotation_and_versions() -> None:
    ns = namespace(audit="restricted", enforce="baseline", enforce_version="v1.24")
    req = request(make_pod(), ns)
    await pod_security.admit(req)
    assert req.audit_annotations["pod-security.kubernetes.io/enforce-policy"] == "baseline:v1.24"
    assert req.audit_annotations["pod-security.kubernetes.io/audit-violations"].startswith(
        'would violate PodSecurity "restricted:latest": allowPrivilegeEscalation != false')
    with pytest.raises(AdmissionDenied, match=r'violates PodSecurity "baseline:v1.24": host namespaces'):
        await pod_security.admit(request(make_pod(hostPID=True), ns))
    # runAsUser=0 is a restricted check from v1.23 only
    root = make_pod(securityContext={"runAsNonRoot": True, "runAsUser": 0,
                                     "seccompProfile": {"type": "RuntimeDefault"}},
                    containers=[{"name": "c", "image": "i", "securityContext": {
                        "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}])
    assert pod_security.evaluate(root, "restricted", 22) == []
    assert pod_security.evaluate(root, "restricted")[0].startswith("runAsUser=0")


async def test_pod_security_on_updates() -> None:
    ns = namespace(enforce="baseline")
    old = make_pod(hostNetwork=True)  # admitted before the namespace was labelled
    relabelled = copy.deepcopy(old)
    relabelled["metadata"]["labels"] = {"a": "b"}
    await pod_security.admit(request(relabelled, ns, old=old))  # not significant: allowed
    new_image = copy.deepcopy(old)
    new_image["spec"]["containers"][0]["image"] = "j"
    with pytest.raises(AdmissionDenied, match="host namespaces"):
        await pod_security.admit(request(new_image, ns, old=old))
    debug = make_pod(ephemeralContainers=[{"name": "dbg", "image": "i", "securityContext": {"privileged": True}}])
    with pytest.raises(AdmissionDenied, match='privileged \\(container "dbg"'):
        await pod_security.admit(request(debug, ns, old=make_pod(), subresource="ephemeralcontainers"))
    await pod_security.admit(request(new_image, ns, old=old, subresource="status"))


async def test_pod_security_exemptions_and_defaults() -> None:
    config = pod_security.parse_configuration({
        "apiVersion": "pod-security.admission.config.k8s.io/v1", "kind": "PodSecurityConfiguration",
        "defaults": {"enforce": "baseline"},
        "exemptions": {"usernames": ["ci-bot"], "runtimeClasses": ["kata"], "namespaces": ["ns-exempt"]}},
        source="test")
    plugin = pod_security.PodSecurity(config)
    bad = make_pod(hostNetwork=True)
    with pytest.raises(AdmissionDenied, match='violates PodSecurity "baseline:latest"'):
        await plugin.admit(request(bad, {}))  # the default applies to unlabelled namespaces
    by_user = request(bad, {}, user=UserInfo("ci-bot", "", ()))
    await plugin.admit(by_user)
    assert by_user.audit_annotations == {"pod-security.kubernetes.io/exempt": "user"}
    by_class = request(make_pod(hostNetwork=True, runtimeClassName="kata"), {})
    await plugin.admit(by_class)
    assert by_class.audit_annotations == {"pod-security.kubernetes.io/exempt": "runtimeClass"}
    in_ns = request(bad, {})
    in_ns.namespace = "ns-exempt"
    await plugin.admit(in_ns)
    assert in_ns.audit_annotations == {"pod-security.kubernetes.io/exempt": "namespace"}


async def test_namespace_labels_are_validated_and_raising_enforce_warns() -> None:
    ns = {"metadata": {"name": "ns", "labels": {"pod-security.kubernetes.io/enforce": "strict"}}}
    with pytest.raises(AdmissionDenied) as exc:
        await pod_security.admit(request(ns, resource="namespaces"))
    assert [e.error() for e in exc.value.invalid] == [
        'metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "strict": must be one of privileged, '
        "baseline, restricted"]
    pods = {"/core/pods/ns/web": {**make_pod(hostNetwork=True), "metadata": {"name": "web", "namespace": "ns"}}}
    old = {"metadata": {"name": "ns", "labels": {}}}
    new = {"metadata": {"name": "ns", "labels": {"pod-security.kubernetes.io/enforce": "baseline"}}}
    req = request(new, pods, resource="namespaces", old=old)
    await pod_security.admit(req)
    assert req.warnings == ['existing pods in namespace "ns" violate the new PodSecurity enforce level '
                            '"baseline:latest"', "web: host namespaces"]


async def test_chain_collects_audit_annotations_for_the_request() -> None:
    ns = namespace(audit="baseline")
    admission = Admission(plugins=[pod_security.admit], list_objects=lambda p, k: [],
                          get_object=request(make_pod(), ns).get_object)
    token = chain.audit_annotations.set({})
    try:
        await admission.admit_create(group="", resource="pods", kind="Pod", namespace="ns",
                                     obj=make_pod(hostIPC=True), dry_run=False)
        annotations = chain.audit_annotations.get()
        assert annotations is not None
        assert annotations["pod-security.kubernetes.io/audit-violations"].startswith(
            'would violate PodSecurity "baseline:latest": host namespaces (hostIPC=true)')
    finally:
        chain.audit_annotations.reset(token)


@pytest.mark.parametrize(("text", "message"), [
    pytest.param("kind: Nope", "must be an apiserver.config.k8s.io/v1 AdmissionConfiguration", id="kind"),
    pytest.param("apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n- name: Foo\n"
                 "  configuration: {}", "plugins[0].name: Unsupported value: 'Foo'", id="unknown-plugin"),
    pytest.param("apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n"
                 "- name: PodSecurity\n  configuration:\n    apiVersion: pod-security.admission.config.k8s.io/v1\n"
                 "    kind: PodSecurityConfiguration\n    defaults: {enforce: strict}",
                 'defaults.enforce: Invalid value: "strict"', id="bad-level"),
    pytest.param("{not yaml", "not YAML or JSON", id="garbage"),
])
def test_bad_admission_configuration(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "admission.yaml"
    path.write_text(text)
    with pytest.raises(AdmissionConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_admission_configuration(path)


def test_admission_configuration_from_a_path(tmp_path: Path) -> None:
    (tmp_path / "pss.yaml").write_text(
        "apiVersion: pod-security.admission.config.k8s.io/v1\nkind: PodSecurityConfiguration\n"
        "defaults: {enforce: restricted, enforce-version: v1.30, warn: baseline}\n"
        "exemptions: {namespaces: [kube-system]}")
    (tmp_path / "admission.yaml").write_text("apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\n"
                                             "plugins:\n- name: PodSecurity\n  path: pss.yaml\n")
    config = load_admission_configuration(tmp_path / "admission.yaml").pod_security
    assert str(config.defaults["enforce"]) == "restricted:v1.30"
    assert str(config.defaults["warn"]) == "baseline:latest"
    assert config.namespaces == frozenset({"kube-system"})


async def test_deletes_reach_only_the_delete_plugins() -> None:
    seen: list[str] = []

    async def spy(req: AdmissionRequest) -> None:
        seen.append(req.operation)

    admission = Admission(plugins=[spy], list_objects=lambda p, k: [], get_object=request(make_pod()).get_object,
                          delete_plugins=[namespace_lifecycle.admit, node_restriction.admit])
    with pytest.raises(AdmissionDenied, match="this namespace may not be deleted"):
        await admission.admit_delete(group="", resource="namespaces", kind="Namespace", namespace=None,
                                     name="kube-system", dry_run=False)
    await admission.admit_delete(group="", resource="namespaces", kind="Namespace", namespace=None, name="team",
                                 dry_run=False)
    token = chain.current_user.set(NODE)
    try:
        with pytest.raises(AdmissionDenied, match='node "n1" is not allowed to modify node "n2"'):
            await admission.admit_delete(group="", resource="nodes", kind="Node", namespace=None, name="n2",
                                         dry_run=False)
        await admission.admit_delete(group="", resource="nodes", kind="Node", namespace=None, name="n1",
                                     dry_run=False)
        await admission.admit_delete(group="", resource="pods", kind="Pod", namespace="ns", name="p", dry_run=False)
    finally:
        chain.current_user.reset(token)
    assert seen == []


async def test_workload_templates_warn_and_audit_but_are_not_enforced() -> None:
    ns = namespace(enforce="restricted", audit="baseline")
    deployment = {"metadata": {"name": "web", "namespace": "ns"},
                  "spec": {"template": {"metadata": {}, "spec": {"hostNetwork": True,
                                                                  "containers": [{"name": "c", "image": "i"}]}}}}
    req = request(deployment, ns, resource="deployments")
    req.group = "apps"
    await pod_security.admit(req)  # admitted: the pods it makes are what enforce refuses
    assert req.warnings[0].startswith('would violate PodSecurity "restricted:latest": host namespaces')
    assert req.audit_annotations["pod-security.kubernetes.io/audit-violations"].startswith(
        'would violate PodSecurity "baseline:latest": host namespaces')
    cron = {"metadata": {"name": "c"}, "spec": {"jobTemplate": {"spec": {"template": deployment["spec"]["template"]}}}}
    assert pod_security.pod_template("cronjobs", cron) is deployment["spec"]["template"]


@pytest.mark.parametrize(("pod", "level", "expected"), [
    pytest.param(make_pod(securityContext={"appArmorProfile": {"type": "Unconfined"}}), "baseline",
                 ['forbidden AppArmor profile (pod must not set AppArmor profile type to "Unconfined")'],
                 id="apparmor-field"),
    pytest.param({"metadata": {"name": "p", "annotations": {
        "container.apparmor.security.beta.kubernetes.io/c": "unconfined"}}, "spec": {"containers": [{"name": "c"}]}},
        "baseline", ['forbidden AppArmor profile (annotation must not set AppArmor profile type to '
                     '"container.apparmor.security.beta.kubernetes.io/c=\\"unconfined\\"")'], id="apparmor-annotation"),
    pytest.param(make_pod(containers=[{"name": "c", "securityContext": {"seLinuxOptions": {"type": "spc_t"}}}]),
                 "baseline", ['seLinuxOptions (container "c" set forbidden securityContext.seLinuxOptions: type '
                              '"spc_t")'], id="selinux"),
    pytest.param(make_pod(securityContext={"windowsOptions": {"hostProcess": True}}), "baseline",
                 ["hostProcess (pod must not set securityContext.windowsOptions.hostProcess=true)"], id="host-process"),
    pytest.param(make_pod(securityContext={"runAsNonRoot": True, "seccompProfile": {"type": "Unconfined"}},
                          containers=[{"name": "c", "securityContext": {
                              "allowPrivilegeEscalation": False,
                              "capabilities": {"drop": ["ALL"], "add": ["SYS_ADMIN"]}}}]), "restricted",
                 ['unrestricted capabilities (container "c" must not include "SYS_ADMIN" in '
                  'securityContext.capabilities.add)',
                  'seccompProfile (pod must not set securityContext.seccompProfile.type to "Unconfined")'],
                 id="restricted-replaces-baseline-capabilities-and-seccomp"),
])
def test_upstream_checks_and_order(pod: Obj, level: str, expected: list[str]) -> None:
    assert pod_security.evaluate(pod, level) == expected


def mirror(**extra: Any) -> Obj:
    pod = make_pod(nodeName="n1")
    pod["metadata"]["annotations"] = {"kubernetes.io/config.mirror": "hash"}
    pod["metadata"].update(extra)
    return pod


OWNER = {"apiVersion": "v1", "kind": "Node", "name": "n1", "uid": "node-uid", "controller": True}


@pytest.mark.parametrize(("pod", "message"), [
    pytest.param(mirror(ownerReferences=[OWNER]), None, id="owned-by-itself"),
    pytest.param(mirror(ownerReferences=[OWNER, OWNER]), "with a single owner reference set to itself", id="two"),
    pytest.param(mirror(ownerReferences=[{**OWNER, "name": "n2"}]), "with an owner reference set to itself",
                 id="other-node"),
    pytest.param(mirror(ownerReferences=[{**OWNER, "controller": False}]), "with a controller owner reference",
                 id="not-controller"),
    pytest.param(mirror(ownerReferences=[{**OWNER, "blockOwnerDeletion": True}]), "must not set blockOwnerDeletion",
                 id="block"),
    pytest.param(mirror(ownerReferences=[{**OWNER, "uid": "stale"}]), "node n1 UID mismatch: expected stale got "
                 "node-uid", id="uid"),
    pytest.param({**mirror(), "spec": {**mirror()["spec"], "volumes": [{"name": "v", "configMap": {"name": "c"}}]}},
                 'node "n1" can not create pods that reference configmaps', id="configmap"),
])
async def test_mirror_pod_owner_and_references(pod: Obj, message: str | None) -> None:
    req = request(pod, {"/core/nodes/n1": {"metadata": {"name": "n1", "uid": "node-uid"}}}, user=NODE)
    if message is None:
        await node_restriction.admit(req)
        return
    with pytest.raises(AdmissionDenied, match=message):
        await node_restriction.admit(req)


async def test_generic_object_count_quota() -> None:
    objects = {"/core/resourcequotas/ns/q": {"metadata": {"name": "q"},
                                             "spec": {"hard": {"count/deployments.apps": "1"}}},
               "/apps/deployments/ns/a": {"metadata": {"name": "a"}}}
    deployment = {"metadata": {"name": "b", "namespace": "ns"}, "spec": {}}
    req = request(deployment, objects, resource="deployments")
    req.group = "apps"
    with pytest.raises(AdmissionDenied, match=r"exceeded quota: q, requested: count/deployments\.apps=1, used: "
                                              r"count/deployments\.apps=1, limited: count/deployments\.apps=1"):
        await resourcequota.admit(req)

    def list_objects(prefix: str, key_prefix: str) -> list[Obj]:
        return [o for k, o in objects.items() if k.startswith(key_prefix)]

    assert resourcequota.quota_used({"count/deployments.apps": "1", "count/serviceaccounts": "5"}, "ns",
                                    list_objects) == {"count/deployments.apps": "1", "count/serviceaccounts": "0"}


async def test_scoped_quotas_track_only_matching_pods() -> None:
    burstable = make_pod(containers=[{"name": "c", "image": "i", "resources": {"requests": {"cpu": "100m"}}}])
    objects = {"/core/resourcequotas/ns/best": {"metadata": {"name": "best"},
                                                "spec": {"hard": {"pods": "1"}, "scopes": ["BestEffort"]}},
               "/core/resourcequotas/ns/high": {"metadata": {"name": "high"}, "spec": {
                   "hard": {"pods": "0"}, "scopeSelector": {"matchExpressions": [
                       {"scopeName": "PriorityClass", "operator": "In", "values": ["high"]}]}}},
               "/core/pods/ns/old": make_pod()}
    # the BestEffort quota is full, but a Burstable pod is not its business
    await resourcequota.admit(request(burstable, objects))
    with pytest.raises(AdmissionDenied, match="exceeded quota: best"):
        await resourcequota.admit(request(make_pod(), objects))
    with pytest.raises(AdmissionDenied, match="exceeded quota: high"):
        await resourcequota.admit(request({**burstable, "spec": {**burstable["spec"], "priorityClassName": "high"}},
                                          objects))

    def list_objects(prefix: str, key_prefix: str) -> list[Obj]:
        return [o for k, o in objects.items() if k.startswith(key_prefix)]

    objects["/core/pods/ns/b"] = burstable
    assert resourcequota.quota_used({"pods": "1"}, "ns", list_objects, spec={"scopes": ["NotBestEffort"]}) == \
        {"pods": "1"}
    assert resourcequota.quota_used({"pods": "9"}, "ns", list_objects) == {"pods": "2"}
    terminating = resourcequota.scope_filter({"scopes": ["Terminating"]})
    assert not terminating("pods", burstable) and not terminating("services", {})
    assert terminating("pods", make_pod(activeDeadlineSeconds=30))


async def test_limit_range_max_limit_request_ratio() -> None:
    ranges = {"/core/limitranges/ns/lr": {"spec": {"limits": [{"type": "Container",
                                                               "maxLimitRequestRatio": {"cpu": "2"}}]}}}
    fine = make_pod(containers=[{"name": "c", "resources": {"requests": {"cpu": "250m"}, "limits": {"cpu": "500m"}}}])
    await limitranger.admit(request(fine, ranges))
    greedy = make_pod(containers=[{"name": "c", "resources": {"requests": {"cpu": "100m"}, "limits": {"cpu": "1"}}}])
    with pytest.raises(AdmissionDenied) as exc:
        await limitranger.admit(request(greedy, ranges))
    assert exc.value.message == "cpu max limit to request ratio per Container is 2, but provided ratio is 10.000000"
    with pytest.raises(AdmissionDenied, match="but no limit is specified or limit is 0"):
        await limitranger.admit(request(make_pod(containers=[{"name": "c", "resources": {
            "requests": {"cpu": "100m"}}}]), ranges))
