"""Per-kind defaulting and validation, kubelite.controlplane.apiserver.kinds.

Expected messages are upstream's (``pkg/apis/{apps,batch,core,policy,coordination,scheduling,rbac}/
validation`` and the defaults in ``pkg/apis/*/v1/defaults.go``), rendered as kubelite renders
``field.Error`` (bad values as JSON, the 1.34 rendering). Each case runs the same steps the
registry runs on a write: prepare, default, validate (and validate_update on updates).
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable
from typing import Any

import pytest

from kubelite.controlplane.apiserver.kinds import KIND_STRATEGIES
from kubelite.controlplane.apiserver.kinds.cron import CronError, parse_standard
from kubelite.controlplane.apiserver.resources import BUILTIN_RESOURCES
from kubelite.controlplane.apiserver.strategy import Strategy

Obj = dict[str, Any]
UID = "0f3a6f3e-1111-4222-8333-944445555666"
_INFOS = {(r.group, r.plural): r for r in BUILTIN_RESOURCES if r.preferred}


def strategy_for(group: str, plural: str) -> Strategy:
    return KIND_STRATEGIES[(group, plural)](_INFOS[(group, plural)], unknown_fields=None)


def create(group: str, plural: str, obj: Obj) -> tuple[Obj, list[str]]:
    """The registry's create steps; returns the stored object and the error lines."""
    strategy = strategy_for(group, plural)
    obj = copy.deepcopy(obj)
    obj.setdefault("metadata", {}).setdefault("uid", UID)
    strategy.prepare_for_create(obj)
    strategy.default(obj)
    return obj, [str(e) for e in strategy.validate(obj)]


def update(group: str, plural: str, old: Obj, change: Callable[[Obj], None]) -> tuple[Obj, list[str]]:
    """The registry's update steps on a valid stored ``old`` changed by ``change``."""
    strategy = strategy_for(group, plural)
    stored, problems = create(group, plural, old)
    assert problems == []
    stored["metadata"]["resourceVersion"] = "5"
    new = copy.deepcopy(stored)
    change(new)
    new = strategy.prepare_for_update(new, stored)
    strategy.default(new)
    return new, [str(e) for e in [*strategy.validate(new), *strategy.validate_update(new, stored)]]


def pod_template(labels: dict[str, str] | None = None, **spec: Any) -> Obj:
    template: Obj = {"spec": {"containers": [{"name": "app", "image": "nginx:1.27"}], **spec}}
    if labels is not None:
        template["metadata"] = {"labels": labels}
    return template


def deployment(**spec: Any) -> Obj:
    base: Obj = {"selector": {"matchLabels": {"app": "web"}}, "template": pod_template({"app": "web"})}
    base.update(spec)
    return {"metadata": {"name": "web", "namespace": "default"}, "spec": base}


def with_spec(obj: Obj, **changes: Any) -> Obj:
    obj = copy.deepcopy(obj)
    obj["spec"].update(changes)
    return obj


# -- apps/v1 Deployment --------------------------------------------------------------------------


def test_deployment_defaults_match_upstream() -> None:
    stored, problems = create("apps", "deployments", deployment())
    assert problems == []
    spec = stored["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
    assert spec["revisionHistoryLimit"] == 10
    assert spec["progressDeadlineSeconds"] == 600
    template_spec = spec["template"]["spec"]
    assert {k: template_spec[k] for k in ("restartPolicy", "terminationGracePeriodSeconds", "dnsPolicy",
                                          "schedulerName", "securityContext")} == {
        "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
        "schedulerName": "default-scheduler", "securityContext": {}}
    assert template_spec["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    # pod-only defaults (admission, SetDefaults_Pod) never land in a template
    for pod_only in ("tolerations", "serviceAccountName", "priority", "enableServiceLinks", "preemptionPolicy"):
        assert pod_only not in template_spec


@pytest.mark.parametrize(("given", "expected"), [
    pytest.param({"serviceAccountName": "robot"}, "robot", id="service-account-name"),
    pytest.param({"serviceAccount": "robot"}, "robot", id="deprecated-service-account"),
])
def test_template_service_account_fields_kept_in_step(given: Obj, expected: str) -> None:
    obj = with_spec(deployment(), template=pod_template({"app": "web"}, **given))
    template_spec = create("apps", "deployments", obj)[0]["spec"]["template"]["spec"]
    assert (template_spec["serviceAccountName"], template_spec["serviceAccount"]) == (expected, expected)


def test_deployment_recreate_gets_no_rolling_update_defaults() -> None:
    stored, problems = create("apps", "deployments", deployment(strategy={"type": "Recreate"}))
    assert problems == []
    assert stored["spec"]["strategy"] == {"type": "Recreate"}


def test_deployment_keeps_given_values() -> None:
    stored, _ = create("apps", "deployments", deployment(replicas=0, revisionHistoryLimit=2,
                                                         strategy={"rollingUpdate": {"maxSurge": 1}}))
    assert stored["spec"]["replicas"] == 0
    assert stored["spec"]["revisionHistoryLimit"] == 2
    assert stored["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": "25%"}


@pytest.mark.parametrize(("obj", "expected"), [
    pytest.param(deployment(), [], id="valid"),
    pytest.param(with_spec(deployment(), template=pod_template({"app": "other"})),
                 ['spec.template.metadata.labels: Invalid value: {"app":"other"}: '
                  '`selector` does not match template `labels`'], id="selector-does-not-match-template"),
    pytest.param({"metadata": {"name": "web", "namespace": "default"}, "spec": {"template": pod_template({"a": "b"})}},
                 ["spec.selector: Required value",
                  'spec.template.metadata.labels: Invalid value: {"a":"b"}: `selector` does not match template '
                  "`labels`"], id="selector-missing"),
    pytest.param(with_spec(deployment(), selector={}),
                 ["spec.selector: Invalid value: {}: empty selector is invalid for deployment"], id="selector-empty"),
    pytest.param(with_spec(deployment(), selector={"matchExpressions": [{"key": "app", "operator": "Is"}]}),
                 ['spec.selector.matchExpressions[0].operator: Invalid value: "Is": not a valid selector operator',
                  'spec.selector: Invalid value: {"matchExpressions":[{"key":"app","operator":"Is"}]}: '
                  "invalid label selector"], id="selector-bad-operator"),
    pytest.param(with_spec(deployment(), replicas=-1),
                 ["spec.replicas: Invalid value: -1: must be greater than or equal to 0"], id="negative-replicas"),
    pytest.param(with_spec(deployment(), strategy={"type": "BlueGreen"}),
                 ['spec.strategy: Unsupported value: {"Type":"BlueGreen","RollingUpdate":null}: supported values: '
                  '"Recreate", "RollingUpdate"'], id="strategy-type-enum"),
    pytest.param(with_spec(deployment(), strategy={"type": "Recreate", "rollingUpdate": {"maxSurge": 1}}),
                 ["spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'"],
                 id="recreate-with-rolling-update"),
    pytest.param(with_spec(deployment(), strategy={"rollingUpdate": {"maxSurge": 0, "maxUnavailable": "0%"}}),
                 ['spec.strategy.rollingUpdate.maxUnavailable: Invalid value: "0%": may not be 0 when `maxSurge` is 0'],
                 id="surge-and-unavailable-both-zero"),
    pytest.param(with_spec(deployment(), strategy={"rollingUpdate": {"maxUnavailable": "120%"}}),
                 ['spec.strategy.rollingUpdate.maxUnavailable: Invalid value: "120%": must not be greater than 100%'],
                 id="unavailable-over-100-percent"),
    pytest.param(with_spec(deployment(), strategy={"rollingUpdate": {"maxSurge": "x"}}),
                 ['spec.strategy.rollingUpdate.maxSurge: Invalid value: "x": a valid percent string must be a '
                  "numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is "
                  "'[0-9]+%')"], id="surge-not-a-percent"),
    pytest.param(with_spec(deployment(), strategy={"rollingUpdate": {"maxSurge": -2}}),
                 ["spec.strategy.rollingUpdate.maxSurge: Invalid value: -2: must be greater than or equal to 0"],
                 id="surge-negative"),
    pytest.param(with_spec(deployment(), template=pod_template({"app": "web"}, restartPolicy="Never")),
                 ['spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"'],
                 id="restart-policy-must-be-always"),
    pytest.param(with_spec(deployment(), template={"metadata": {"labels": {"app": "web"}},
                                                   "spec": {"containers": [{"name": "app"}]}}),
                 ["spec.template.spec.containers[0].image: Required value"], id="container-image-required"),
    pytest.param(with_spec(deployment(), template={"metadata": {"labels": {"app": "web"}}, "spec": {}}),
                 ["spec.template.spec.containers: Required value"], id="containers-required"),
    pytest.param(with_spec(deployment(), progressDeadlineSeconds=5, minReadySeconds=5),
                 ["spec.progressDeadlineSeconds: Invalid value: 5: must be greater than minReadySeconds"],
                 id="progress-deadline-not-above-min-ready"),
    pytest.param(with_spec(deployment(), template=pod_template({"app": "web"}, activeDeadlineSeconds=5)),
                 ["spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in ReplicaSet is not "
                  "Supported"], id="active-deadline-forbidden"),
])
def test_deployment_validation(obj: Obj, expected: list[str]) -> None:
    assert create("apps", "deployments", obj)[1] == expected


@pytest.mark.parametrize(("change", "expected"), [
    pytest.param(lambda d: d["spec"].update(replicas=3), [], id="scale"),
    pytest.param(lambda d: d["spec"]["template"]["spec"]["containers"][0].update(image="nginx:1.28"), [],
                 id="new-image"),
    pytest.param(lambda d: d["spec"].update(selector={"matchLabels": {"app": "web", "tier": "a"}}),
                 ['spec.template.metadata.labels: Invalid value: {"app":"web"}: `selector` does not match template '
                  "`labels`",
                  'spec.selector: Invalid value: {"matchLabels":{"app":"web","tier":"a"}}: field is immutable'],
                 id="selector-immutable"),
])
def test_deployment_update(change: Callable[[Obj], None], expected: list[str]) -> None:
    assert update("apps", "deployments", deployment(), change)[1] == expected


# -- apps/v1 ReplicaSet, DaemonSet, StatefulSet ----------------------------------------------------


def workload(**spec: Any) -> Obj:
    base: Obj = {"selector": {"matchLabels": {"app": "db"}}, "template": pod_template({"app": "db"})}
    base.update(spec)
    return {"metadata": {"name": "db", "namespace": "default"}, "spec": base}


def test_replicaset_defaults() -> None:
    stored, problems = create("apps", "replicasets", workload())
    assert problems == []
    assert stored["spec"]["replicas"] == 1
    assert stored["spec"]["template"]["spec"]["restartPolicy"] == "Always"


def test_daemonset_defaults() -> None:
    stored, problems = create("apps", "daemonsets", workload())
    assert problems == []
    assert stored["spec"]["updateStrategy"] == {"type": "RollingUpdate",
                                                "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}
    assert stored["spec"]["revisionHistoryLimit"] == 10
    assert "replicas" not in stored["spec"]


def test_statefulset_defaults() -> None:
    claim = {"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"]}}
    stored, problems = create("apps", "statefulsets", workload(volumeClaimTemplates=[claim]))
    assert problems == []
    spec = stored["spec"]
    assert spec["podManagementPolicy"] == "OrderedReady"
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    assert spec["replicas"] == 1
    assert spec["revisionHistoryLimit"] == 10
    assert spec["volumeClaimTemplates"][0]["spec"]["volumeMode"] == "Filesystem"
    assert "serviceName" not in spec  # optional since 1.29: an empty serviceName is valid


def test_statefulset_ondelete_keeps_no_rolling_update() -> None:
    stored, problems = create("apps", "statefulsets", workload(updateStrategy={"type": "OnDelete"}))
    assert problems == []
    assert stored["spec"]["updateStrategy"] == {"type": "OnDelete"}


@pytest.mark.parametrize(("plural", "obj", "expected"), [
    pytest.param("replicasets", workload(selector={}),
                 ["spec.selector: Invalid value: {}: empty selector is invalid for deployment"],
                 id="rs-empty-selector-upstream-wording"),
    pytest.param("replicasets", with_spec(workload(), template=pod_template({"app": "x"})),
                 ['spec.template.metadata.labels: Invalid value: {"app":"x"}: `selector` does not match template '
                  "`labels`"], id="rs-selector-mismatch"),
    pytest.param("replicasets", with_spec(workload(), replicas=-3),
                 ["spec.replicas: Invalid value: -3: must be greater than or equal to 0"], id="rs-negative-replicas"),
    pytest.param("daemonsets", workload(selector={}),
                 ["spec.selector: Invalid value: {}: empty selector is invalid for daemonset"], id="ds-empty-selector"),
    pytest.param("daemonsets", {"metadata": {"name": "db", "namespace": "default"},
                                "spec": {"template": pod_template({"app": "db"})}},
                 ['spec.template.metadata.labels: Invalid value: {"app":"db"}: `selector` does not match template '
                  "`labels`"], id="ds-missing-selector-matches-nothing"),
    pytest.param("daemonsets", with_spec(workload(), template=pod_template({"app": "db"}, restartPolicy="OnFailure")),
                 ['spec.template.spec.restartPolicy: Unsupported value: "OnFailure": supported values: "Always"'],
                 id="ds-restart-policy"),
    pytest.param("daemonsets", workload(updateStrategy={"type": "RollingUpdate",
                                                        "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 1}}),
                 ["spec.updateStrategy.rollingUpdate.maxSurge: Invalid value: 1: may not be set when maxUnavailable "
                  "is non-zero"], id="ds-surge-and-unavailable"),
    pytest.param("daemonsets", workload(updateStrategy={"type": "RollingUpdate",
                                                        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}}),
                 ["spec.updateStrategy.rollingUpdate.maxUnavailable: Required value: cannot be 0 when maxSurge is 0"],
                 id="ds-both-zero"),
    pytest.param("daemonsets", workload(updateStrategy={"type": "Sometimes"}),
                 ['spec.updateStrategy: Unsupported value: {"Type":"Sometimes","RollingUpdate":null}: supported '
                  'values: "RollingUpdate", "OnDelete"'], id="ds-strategy-enum"),
    pytest.param("daemonsets", with_spec(workload(), template=pod_template({"app": "db"}, activeDeadlineSeconds=3)),
                 ["spec.template.spec.activeDeadlineSeconds: Invalid value: 3: activeDeadlineSeconds must be nil "
                  "for daemonset"], id="ds-active-deadline"),
    pytest.param("statefulsets", workload(serviceName=""), [], id="sts-empty-service-name"),
    pytest.param("statefulsets", workload(selector={}),
                 ["spec.selector: Invalid value: {}: empty selector is invalid for statefulset"],
                 id="sts-empty-selector"),
    pytest.param("statefulsets", workload(podManagementPolicy="Random"),
                 ["spec.podManagementPolicy: Invalid value: \"Random\": must be 'OrderedReady' or 'Parallel'"],
                 id="sts-pod-management-policy"),
    pytest.param("statefulsets", workload(updateStrategy={"type": "Whenever"}),
                 ['spec.updateStrategy: Invalid value: {"Type":"Whenever","RollingUpdate":null}: must be '
                  "'RollingUpdate' or 'OnDelete'"], id="sts-strategy-enum"),
    pytest.param("statefulsets", workload(updateStrategy={"type": "OnDelete", "rollingUpdate": {"partition": 1}}),
                 ['spec.updateStrategy.rollingUpdate: Invalid value: {"partition":1}: only allowed for '
                  "updateStrategy 'RollingUpdate'"], id="sts-ondelete-with-rolling"),
    pytest.param("statefulsets", workload(updateStrategy={"rollingUpdate": {"partition": -1}}),
                 ["spec.updateStrategy.rollingUpdate.partition: Invalid value: -1: must be greater than or equal to 0"],
                 id="sts-negative-partition"),
    pytest.param("statefulsets", workload(persistentVolumeClaimRetentionPolicy={"whenDeleted": "Keep"}),
                 ['spec.persistentVolumeClaimRetentionPolicy.whenDeleted: Unsupported value: "Keep": supported '
                  'values: "Retain", "Delete"'], id="sts-retention-policy"),
    pytest.param("statefulsets", with_spec(workload(), template=pod_template({"app": "other"})),
                 ['spec.template.metadata.labels: Invalid value: {"app":"other"}: `selector` does not match '
                  "template `labels`"], id="sts-selector-mismatch"),
])
def test_apps_validation(plural: str, obj: Obj, expected: list[str]) -> None:
    assert create("apps", plural, obj)[1] == expected


@pytest.mark.parametrize(("plural", "change", "expected"), [
    pytest.param("replicasets", lambda o: o["spec"].update(selector={"matchLabels": {"app": "db", "x": "y"}}),
                 ['spec.template.metadata.labels: Invalid value: {"app":"db"}: `selector` does not match template '
                  "`labels`",
                  'spec.selector: Invalid value: {"matchLabels":{"app":"db","x":"y"}}: field is immutable'],
                 id="rs-selector-immutable"),
    pytest.param("daemonsets", lambda o: o["spec"].update(selector={"matchExpressions": [
        {"key": "app", "operator": "Exists"}]}),
                 ['spec.selector: Invalid value: {"matchExpressions":[{"key":"app","operator":"Exists"}]}: '
                  "field is immutable"], id="ds-selector-immutable"),
    pytest.param("statefulsets", lambda o: o["spec"].update(replicas=5, minReadySeconds=3), [], id="sts-scale"),
    pytest.param("statefulsets", lambda o: o["spec"].update(serviceName="db-headless"),
                 ["spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', "
                  "'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and "
                  "'minReadySeconds' are forbidden"], id="sts-service-name-frozen"),
])
def test_apps_update(plural: str, change: Callable[[Obj], None], expected: list[str]) -> None:
    assert update("apps", plural, workload(), change)[1] == expected


# -- batch/v1 Job and CronJob ----------------------------------------------------------------------


def job(**spec: Any) -> Obj:
    base: Obj = {"template": pod_template(restartPolicy="Never")}
    base.update(spec)
    return {"metadata": {"name": "pi", "namespace": "default"}, "spec": base}


def test_job_generates_selector_and_labels() -> None:
    stored, problems = create("batch", "jobs", job())
    assert problems == []
    assert stored["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": UID}}
    assert stored["spec"]["template"]["metadata"]["labels"] == {
        "controller-uid": UID, "batch.kubernetes.io/controller-uid": UID,
        "job-name": "pi", "batch.kubernetes.io/job-name": "pi"}
    assert stored["metadata"]["labels"] == stored["spec"]["template"]["metadata"]["labels"]


@pytest.mark.parametrize(("spec", "expected", "absent"), [
    pytest.param({}, {"completions": 1, "parallelism": 1}, [], id="neither-set"),
    pytest.param({"parallelism": 3}, {"parallelism": 3}, ["completions"],
                 id="parallelism-only-leaves-completions-unset"),
    pytest.param({"completions": 4}, {"completions": 4, "parallelism": 1}, [], id="completions-only"),
    pytest.param({"backoffLimitPerIndex": 1, "completions": 2, "completionMode": "Indexed"},
                 {"backoffLimit": 2**31 - 1, "completionMode": "Indexed"}, [], id="backoff-limit-per-index"),
    pytest.param({"podFailurePolicy": {"rules": [{"action": "Ignore",
                                                  "onPodConditions": [{"type": "DisruptionTarget"}]}]}},
                 {"podReplacementPolicy": "Failed"}, [], id="pod-failure-policy"),
])
def test_job_defaults(spec: Obj, expected: Obj, absent: list[str]) -> None:
    stored, problems = create("batch", "jobs", job(**spec))
    assert problems == []
    defaults = {"backoffLimit": 6, "completionMode": "NonIndexed", "suspend": False, "manualSelector": False,
                "podReplacementPolicy": "TerminatingOrFailed"}
    for key, value in {**defaults, **expected}.items():
        assert stored["spec"][key] == value, key
    for key in absent:
        assert key not in stored["spec"]
    if "podFailurePolicy" in spec:
        assert stored["spec"]["podFailurePolicy"]["rules"][0]["onPodConditions"][0]["status"] == "True"


def manual_job(**spec: Any) -> Obj:
    base: Obj = {"manualSelector": True, "selector": {"matchLabels": {"app": "pi"}},
                 "template": pod_template({"app": "pi"}, restartPolicy="OnFailure")}
    return job(**(base | spec))


@pytest.mark.parametrize(("obj", "expected"), [
    pytest.param(job(), [], id="valid"),
    pytest.param(manual_job(), [], id="manual-selector"),
    pytest.param(job(template=pod_template()),
                 ['spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"'],
                 id="restart-policy-always"),
    pytest.param(job(template=pod_template(restartPolicy="Sometimes")),
                 ['spec.template.spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", '
                  '"OnFailure", "Never"',
                  'spec.template.spec.restartPolicy: Unsupported value: "Sometimes": supported values: "OnFailure", '
                  '"Never"'], id="restart-policy-unknown"),
    pytest.param(job(podFailurePolicy={"rules": []}, template=pod_template(restartPolicy="OnFailure")),
                 ['spec.template.spec.restartPolicy: Invalid value: "OnFailure": only "Never" is supported when '
                  "podFailurePolicy is specified"], id="pod-failure-policy-needs-never"),
    pytest.param(job(backoffLimitPerIndex=2),
                 ["spec.backoffLimitPerIndex: Invalid value: 2: requires indexed completion mode"],
                 id="backoff-per-index-needs-indexed"),
    pytest.param(job(podReplacementPolicy="Always"),
                 ['spec.podReplacementPolicy: Unsupported value: "Always": supported values: "Failed", '
                  '"TerminatingOrFailed"'], id="pod-replacement-policy-enum"),
    pytest.param(job(parallelism=-1),
                 ["spec.parallelism: Invalid value: -1: must be greater than or equal to 0"],
                 id="negative-parallelism"),
    pytest.param(job(backoffLimit=-1),
                 ["spec.backoffLimit: Invalid value: -1: must be greater than or equal to 0"], id="negative-backoff"),
    pytest.param(job(completionMode="Sometimes"),
                 ['spec.completionMode: Unsupported value: "Sometimes": supported values: "NonIndexed", "Indexed"'],
                 id="completion-mode-enum"),
    pytest.param(job(completionMode="Indexed", parallelism=2),
                 ["spec.completions: Required value: when completion mode is Indexed"], id="indexed-needs-completions"),
    pytest.param(job(template=pod_template({"controller-uid": "someone-else"}, restartPolicy="Never")),
                 ['spec.template.metadata.labels[controller-uid]: Invalid value: {"batch.kubernetes.io/'
                  'controller-uid":"' + UID + '","batch.kubernetes.io/job-name":"pi","controller-uid":"someone-else",'
                  '"job-name":"pi"}: must be \'' + UID + "'"], id="conflicting-generated-label"),
    pytest.param(job(selector={"matchLabels": {"batch.kubernetes.io/controller-uid": "x"}}),
                 ['spec.selector: Invalid value: {"matchLabels":{"batch.kubernetes.io/controller-uid":"x"}}: '
                  "`selector` not auto-generated",
                  'spec.template.metadata.labels: Invalid value: {"batch.kubernetes.io/controller-uid":"' + UID +
                  '","batch.kubernetes.io/job-name":"pi","controller-uid":"' + UID + '","job-name":"pi"}: '
                  "`selector` does not match template `labels`"], id="user-selector-without-manual"),
    pytest.param(manual_job(selector={"matchLabels": {"app": "other"}}),
                 ['spec.template.metadata.labels: Invalid value: {"app":"pi"}: `selector` does not match template '
                  "`labels`"], id="manual-selector-mismatch"),
    pytest.param(job(manualSelector=True, template=pod_template(restartPolicy="Never")),
                 ["spec.selector: Required value",
                  # a nil selector matches nothing upstream too, so the template check fails as well
                  "spec.template.metadata.labels: Invalid value: null: `selector` does not match template `labels`"],
                 id="manual-without-selector"),
])
def test_job_validation(obj: Obj, expected: list[str]) -> None:
    assert create("batch", "jobs", obj)[1] == expected


def test_indexed_job_name_must_leave_room_for_index() -> None:
    obj = job(completionMode="Indexed", completions=10)
    obj["metadata"]["name"] = "a" * 62
    assert create("batch", "jobs", obj)[1] == [
        f'metadata.name: Invalid value: "{"a" * 62}": will not able to create pod with invalid DNS label: '
        f'{"a" * 62}-9']


def _suspend_and_change_node_selector(o: Obj) -> None:
    o["spec"]["template"]["spec"]["nodeSelector"] = {"zone": "a"}


@pytest.mark.parametrize(("spec", "change", "expected"), [
    pytest.param({}, lambda o: o["spec"].update(parallelism=4, suspend=True), [], id="parallelism-and-suspend"),
    pytest.param({}, lambda o: o["spec"].update(completions=3),
                 ["spec.completions: Invalid value: 3: field is immutable"], id="completions-immutable"),
    pytest.param({"completionMode": "Indexed", "completions": 2, "parallelism": 2},
                 lambda o: o["spec"].update(completions=5, parallelism=5), [], id="indexed-elastic"),
    pytest.param({"completionMode": "Indexed", "completions": 2, "parallelism": 2},
                 lambda o: o["spec"].update(completions=5),
                 ["spec.completions: Invalid value: 5: can only be modified in tandem with spec.parallelism"],
                 id="indexed-elastic-not-in-tandem"),
    pytest.param({}, lambda o: o["spec"]["template"]["spec"]["containers"][0].update(image="perl:2"),
                 ['spec.template: Invalid value: {"metadata":{"labels":{"batch.kubernetes.io/controller-uid":"' + UID
                  + '","batch.kubernetes.io/job-name":"pi","controller-uid":"' + UID + '","job-name":"pi"}},'
                  '"spec":{"containers":[{"image":"perl:2","imagePullPolicy":"IfNotPresent","name":"app",'
                  '"resources":{},"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File"}],'
                  '"dnsPolicy":"ClusterFirst","restartPolicy":"Never","schedulerName":"default-scheduler",'
                  '"securityContext":{},"terminationGracePeriodSeconds":30}}: field is immutable'],
                 id="template-immutable"),
    pytest.param({"suspend": True}, _suspend_and_change_node_selector, [], id="suspended-scheduling-directives"),
    pytest.param({}, lambda o: o["spec"].update(completionMode="Indexed"),
                 ['spec.completionMode: Invalid value: "Indexed": field is immutable'], id="completion-mode-immutable"),
])
def test_job_update(spec: Obj, change: Callable[[Obj], None], expected: list[str]) -> None:
    assert update("batch", "jobs", job(**spec), change)[1] == expected


def cronjob(schedule: str = "*/5 * * * *", **spec: Any) -> Obj:
    base: Obj = {"schedule": schedule, "jobTemplate": {"spec": {"template": pod_template(restartPolicy="OnFailure")}}}
    base.update(spec)
    return {"metadata": {"name": "backup", "namespace": "default"}, "spec": base}


def test_cronjob_defaults() -> None:
    stored, problems = create("batch", "cronjobs", cronjob())
    assert problems == []
    spec = stored["spec"]
    assert (spec["concurrencyPolicy"], spec["suspend"], spec["successfulJobsHistoryLimit"],
            spec["failedJobsHistoryLimit"]) == ("Allow", False, 3, 1)
    job_spec = spec["jobTemplate"]["spec"]
    assert job_spec["template"]["spec"]["dnsPolicy"] == "ClusterFirst"
    assert "backoffLimit" not in job_spec  # SetDefaults_Job is not applied to templates


@pytest.mark.parametrize(("obj", "expected"), [
    pytest.param(cronjob(), [], id="valid"),
    pytest.param(cronjob(""), ["spec.schedule: Required value"], id="schedule-required"),
    pytest.param(cronjob("* * *"),
                 ['spec.schedule: Invalid value: "* * *": expected exactly 5 fields, found 3: [* * *]'],
                 id="too-few-fields"),
    pytest.param(cronjob("0 0 * * * *"),
                 ['spec.schedule: Invalid value: "0 0 * * * *": expected exactly 5 fields, found 6: [0 0 * * * *]'],
                 id="seconds-field"),
    pytest.param(cronjob("60 * * * *"),
                 ['spec.schedule: Invalid value: "60 * * * *": end of range (60) above maximum (59): 60'],
                 id="minute-out-of-range"),
    pytest.param(cronjob("* * 0 * *"),
                 ['spec.schedule: Invalid value: "* * 0 * *": beginning of range (0) below minimum (1): 0'],
                 id="day-of-month-zero"),
    pytest.param(cronjob("* 5-2 * * *"),
                 ['spec.schedule: Invalid value: "* 5-2 * * *": beginning of range (5) beyond end of range (2): 5-2'],
                 id="backwards-range"),
    pytest.param(cronjob("*/0 * * * *"),
                 ['spec.schedule: Invalid value: "*/0 * * * *": step of range should be a positive number: */0'],
                 id="zero-step"),
    pytest.param(cronjob("x * * * *"),
                 ['spec.schedule: Invalid value: "x * * * *": failed to parse int from x: strconv.Atoi: parsing '
                  '"x": invalid syntax'], id="not-a-number"),
    pytest.param(cronjob("0 0 * JAN,jul MON-fri"), [], id="names"),
    pytest.param(cronjob("@daily"), [], id="descriptor"),
    pytest.param(cronjob("@every 1h30m"), [], id="every"),
    pytest.param(cronjob("@sometimes"),
                 ['spec.schedule: Invalid value: "@sometimes": unrecognized descriptor: @sometimes'],
                 id="bad-descriptor"),
    pytest.param(cronjob("TZ=UTC 0 0 * * *"),
                 ['spec.schedule: Invalid value: "TZ=UTC 0 0 * * *": cannot use TZ or CRON_TZ in schedule, use '
                  "timeZone field instead"], id="tz-in-schedule"),
    pytest.param(cronjob(concurrencyPolicy="Sometimes"),
                 ['spec.concurrencyPolicy: Unsupported value: "Sometimes": supported values: "Allow", "Forbid", '
                  '"Replace"'], id="concurrency-enum"),
    pytest.param(cronjob(successfulJobsHistoryLimit=-1),
                 ["spec.successfulJobsHistoryLimit: Invalid value: -1: must be greater than or equal to 0"],
                 id="negative-history"),
    pytest.param(cronjob(timeZone="Mars/Olympus"),
                 ['spec.timeZone: Invalid value: "Mars/Olympus": unknown time zone Mars/Olympus'], id="bad-time-zone"),
    pytest.param(cronjob(timeZone="Europe/Berlin"), [], id="time-zone"),
    pytest.param(cronjob(jobTemplate={"spec": {"template": pod_template()}}),
                 ['spec.jobTemplate.spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", '
                  '"Never"'], id="template-restart-policy"),
    pytest.param(cronjob(jobTemplate={"spec": {"selector": {"matchLabels": {"a": "b"}},
                                               "template": pod_template(restartPolicy="Never")}}),
                 ['spec.jobTemplate.spec.selector: Invalid value: {"matchLabels":{"a":"b"}}: `selector` will be '
                  "auto-generated"], id="template-selector"),
])
def test_cronjob_validation(obj: Obj, expected: list[str]) -> None:
    assert create("batch", "cronjobs", obj)[1] == expected


def test_cronjob_name_length() -> None:
    obj = cronjob()
    obj["metadata"]["name"] = "c" * 53
    assert create("batch", "cronjobs", obj)[1] == [
        f'metadata.name: Invalid value: "{"c" * 53}": must be no more than 52 characters']


@pytest.mark.parametrize(("schedule", "error"), [
    pytest.param("1,2,3-5,*/10 0-23/2 1-31 1-12 0-6", None, id="lists-ranges-steps"),
    pytest.param("? * * * *", None, id="question-mark"),
    pytest.param("* * * * 7", "end of range (7) above maximum (6): 7", id="sunday-as-7"),
    pytest.param("1-2-3 * * * *", "too many hyphens: 1-2-3", id="hyphens"),
    pytest.param("1/2/3 * * * *", "too many slashes: 1/2/3", id="slashes"),
    pytest.param("-1 * * * *", "failed to parse int from : strconv.Atoi: parsing \"\": invalid syntax",
                 id="leading-hyphen"),
    pytest.param("CRON_TZ=Nowhere/Land * * * * *", "provided bad location Nowhere/Land: unknown time zone Nowhere/Land",
                 id="bad-location"),
    pytest.param("@every 5", 'failed to parse duration @every 5: time: missing unit in duration "5"',
                 id="every-missing-unit"),
    pytest.param("", "empty spec string", id="empty"),
])
def test_cron_parser(schedule: str, error: str | None) -> None:
    if error is None:
        parse_standard(schedule)
    else:
        with pytest.raises(CronError) as caught:
            parse_standard(schedule)
        assert str(caught.value) == error


# -- v1 ConfigMap and Secret -----------------------------------------------------------------------


def configmap(**fields: Any) -> Obj:
    return {"metadata": {"name": "cfg", "namespace": "default"}, **fields}


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(("obj", "expected"), [
    pytest.param(configmap(data={"app.properties": "a=b", "KEY_1": "x"}), [], id="valid"),
    pytest.param(configmap(data={"bad key": "x"}),
                 ['data[bad key]: Invalid value: "bad key": a valid config key must consist of alphanumeric '
                  "characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for "
                  "validation is '[-._a-zA-Z0-9]+')"], id="bad-key"),
    pytest.param(configmap(data={"k": "x"}, binaryData={"k": b64("y")}),
                 ['data[k]: Invalid value: "k": duplicate of key present in binaryData'], id="key-in-both"),
    pytest.param(configmap(binaryData={"..": b64("y")}),
                 ['binaryData[..]: Invalid value: "..": must not be \'..\''], id="binary-dotdot"),
    pytest.param(configmap(data={"big": "x" * (1024 * 1024 + 1)}),
                 [": Too long: may not be more than 1048576 bytes"], id="too-big"),
])
def test_configmap_validation(obj: Obj, expected: list[str]) -> None:
    assert create("", "configmaps", obj)[1] == expected


@pytest.mark.parametrize(("old", "change", "expected"), [
    pytest.param(configmap(data={"a": "1"}), lambda o: o["data"].update(a="2"), [], id="mutable"),
    pytest.param(configmap(data={"a": "1"}, immutable=True), lambda o: o["data"].update(a="2"),
                 ["data: Forbidden: field is immutable when `immutable` is set"], id="immutable-data"),
    pytest.param(configmap(binaryData={"a": b64("1")}, immutable=True), lambda o: o.update(binaryData={}),
                 ["binaryData: Forbidden: field is immutable when `immutable` is set"], id="immutable-binary-data"),
    pytest.param(configmap(data={"a": "1"}, immutable=True), lambda o: o.update(immutable=False),
                 ["immutable: Forbidden: field is immutable when `immutable` is set"], id="immutable-flag"),
    pytest.param(configmap(data={"a": "1"}, immutable=True),
                 lambda o: o["metadata"].update(labels={"x": "y"}), [], id="immutable-metadata-changes"),
])
def test_configmap_update(old: Obj, change: Callable[[Obj], None], expected: list[str]) -> None:
    assert update("", "configmaps", old, change)[1] == expected


def secret(kind: str | None = None, **fields: Any) -> Obj:
    obj: Obj = {"metadata": {"name": "s", "namespace": "default"}, **fields}
    if kind is not None:
        obj["type"] = kind
    return obj


def test_secret_string_data_merged_into_data() -> None:
    stored, problems = create("", "secrets", secret(data={"a": b64("old"), "b": b64("keep")},
                                                    stringData={"a": "new", "c": "ü"}))
    assert problems == []
    assert stored["type"] == "Opaque"
    assert "stringData" not in stored
    assert stored["data"] == {"a": b64("new"), "b": b64("keep"), "c": base64.b64encode("ü".encode()).decode()}


@pytest.mark.parametrize(("obj", "expected"), [
    pytest.param(secret(data={"k": b64("v")}), [], id="opaque"),
    pytest.param(secret(stringData={"bad/key": "v"}),
                 ['data[bad/key]: Invalid value: "bad/key": a valid config key must consist of alphanumeric '
                  "characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for "
                  "validation is '[-._a-zA-Z0-9]+')"], id="string-data-key-checked-as-data"),
    pytest.param(secret(data={"k": "not base64!"}),
                 ['data[k]: Invalid value: "<secret contents redacted>": illegal base64 data at input byte 3'],
                 id="not-base64"),
    pytest.param(secret("kubernetes.io/tls", data={"tls.crt": b64("c")}),
                 ["data[tls.key]: Required value"], id="tls-needs-key"),
    pytest.param(secret("kubernetes.io/tls", data={}),
                 ["data[tls.crt]: Required value", "data[tls.key]: Required value"], id="tls-needs-both"),
    pytest.param(secret("kubernetes.io/dockerconfigjson", data={}),
                 ["data[.dockerconfigjson]: Required value"], id="dockerconfigjson-required"),
    pytest.param(secret("kubernetes.io/dockerconfigjson", stringData={".dockerconfigjson": '{"auths":{}}'}), [],
                 id="dockerconfigjson-valid"),
    pytest.param(secret("kubernetes.io/dockerconfigjson", stringData={".dockerconfigjson": "nope"}),
                 ['data[.dockerconfigjson]: Invalid value: "<secret contents redacted>": invalid character \'o\' in '
                  "literal null (expecting 'u')"], id="dockerconfigjson-not-json"),
    pytest.param(secret("kubernetes.io/dockerconfigjson", stringData={".dockerconfigjson": "[]"}),
                 ['data[.dockerconfigjson]: Invalid value: "<secret contents redacted>": json: cannot unmarshal '
                  "array into Go value of type map[string]interface {}"], id="dockerconfigjson-not-object"),
    pytest.param(secret("kubernetes.io/service-account-token"),
                 ["metadata.annotations[kubernetes.io/service-account.name]: Required value"],
                 id="sa-token-needs-annotation"),
    pytest.param(secret("kubernetes.io/basic-auth", stringData={"password": ""}), [], id="basic-auth-password-only"),
    pytest.param(secret("kubernetes.io/basic-auth"),
                 ["data[username]: Required value", "data[password]: Required value"], id="basic-auth-empty"),
    pytest.param(secret("kubernetes.io/ssh-auth", stringData={"ssh-privatekey": ""}),
                 ["data[ssh-privatekey]: Required value"], id="ssh-auth-empty-key"),
])
def test_secret_validation(obj: Obj, expected: list[str]) -> None:
    assert create("", "secrets", obj)[1] == expected


@pytest.mark.parametrize(("old", "change", "expected"), [
    pytest.param(secret(data={"a": b64("1")}), lambda o: o.update(type="kubernetes.io/tls"),
                 ['type: Invalid value: "kubernetes.io/tls": field is immutable',
                  "data[tls.crt]: Required value", "data[tls.key]: Required value"], id="type-immutable"),
    pytest.param(secret(data={"a": b64("1")}, immutable=True), lambda o: o.update(stringData={"a": "2"}),
                 ["data: Forbidden: field is immutable when `immutable` is set"], id="immutable-via-string-data"),
    pytest.param(secret(data={"a": b64("1")}, immutable=True), lambda o: o.pop("immutable"),
                 ["immutable: Forbidden: field is immutable when `immutable` is set"], id="immutable-unset"),
])
def test_secret_update(old: Obj, change: Callable[[Obj], None], expected: list[str]) -> None:
    # validate (the new object's own rules) runs before validate_update (the transition rules)
    problems = update("", "secrets", old, change)[1]
    assert sorted(problems) == sorted(expected)


# -- policy, coordination, scheduling, rbac --------------------------------------------------------


def pdb(**spec: Any) -> Obj:
    return {"metadata": {"name": "budget", "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, **spec}}


@pytest.mark.parametrize(("obj", "expected"), [
    pytest.param(pdb(minAvailable=2), [], id="min-available"),
    pytest.param(pdb(maxUnavailable="50%"), [], id="max-unavailable-percent"),
    pytest.param(pdb(minAvailable=1, maxUnavailable=1),
                 ['spec: Invalid value: {"maxUnavailable":1,"minAvailable":1,"selector":{"matchLabels":'
                  '{"app":"web"}}}: minAvailable and maxUnavailable cannot be both set'], id="both-set"),
    pytest.param(pdb(minAvailable="150%"),
                 ['spec.minAvailable: Invalid value: "150%": must not be greater than 100%'], id="over-100"),
    pytest.param(pdb(maxUnavailable=-1),
                 ["spec.maxUnavailable: Invalid value: -1: must be greater than or equal to 0"], id="negative"),
    pytest.param(pdb(minAvailable=1, unhealthyPodEvictionPolicy="Never"),
                 ['spec.unhealthyPodEvictionPolicy: Unsupported value: "Never": supported values: "AlwaysAllow", '
                  '"IfHealthyBudget"'], id="eviction-policy-enum"),
])
def test_pdb_validation(obj: Obj, expected: list[str]) -> None:
    assert create("policy", "poddisruptionbudgets", obj)[1] == expected


def test_pdb_initial_status() -> None:
    # a client-sent status is dropped on create, as upstream's PrepareForCreate does
    stored, _ = create("policy", "poddisruptionbudgets", pdb(minAvailable=1) | {"status": {"expectedPods": 9}})
    assert stored["status"] == {"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0}


@pytest.mark.parametrize(("spec", "expected"), [
    pytest.param({"holderIdentity": "node-1", "leaseDurationSeconds": 40}, [], id="valid"),
    pytest.param({"leaseDurationSeconds": 0},
                 ["spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"], id="zero-duration"),
    pytest.param({"leaseTransitions": -1},
                 ["spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0"],
                 id="negative-transitions"),
])
def test_lease_validation(spec: Obj, expected: list[str]) -> None:
    obj = {"metadata": {"name": "node-1", "namespace": "kube-node-lease"}, "spec": spec}
    assert create("coordination.k8s.io", "leases", obj)[1] == expected


def priority_class(name: str = "high", value: int = 1000, **fields: Any) -> Obj:
    return {"metadata": {"name": name}, "value": value, **fields}


@pytest.mark.parametrize(("obj", "expected"), [
    pytest.param(priority_class(), [], id="valid"),
    pytest.param(priority_class(value=1_000_000_000, globalDefault=True), [], id="highest-user-value"),
    pytest.param(priority_class(value=1_000_000_001),
                 ["value: Forbidden: maximum allowed value of a user defined priority is 1000000000"], id="too-high"),
    pytest.param(priority_class("system-node-critical", 2_000_001_000), [], id="system-class"),
    pytest.param(priority_class("system-node-critical", 5),
                 ["metadata.name: Forbidden: priority class names with 'system-' prefix are reserved for system use "
                  "only. error: value of system-node-critical PriorityClass must be 2000001000"],
                 id="system-class-wrong-value"),
    pytest.param(priority_class("system-mine", 5),
                 ["metadata.name: Forbidden: priority class names with 'system-' prefix are reserved for system use "
                  "only. error: system-mine is not a known system priority class"], id="unknown-system-class"),
    pytest.param(priority_class(preemptionPolicy="Sometimes"),
                 ['preemptionPolicy: Unsupported value: "Sometimes": supported values: "PreemptLowerPriority", '
                  '"Never"'], id="preemption-policy-enum"),
])
def test_priority_class_validation(obj: Obj, expected: list[str]) -> None:
    stored, problems = create("scheduling.k8s.io", "priorityclasses", obj)
    assert problems == expected
    assert stored["preemptionPolicy"] == obj.get("preemptionPolicy", "PreemptLowerPriority")


@pytest.mark.parametrize(("change", "expected"), [
    pytest.param(lambda o: o.update(description="more"), [], id="description"),
    pytest.param(lambda o: o.update(value=7), ["value: Forbidden: may not be changed in an update."], id="value"),
    pytest.param(lambda o: o.update(preemptionPolicy="Never"),
                 ['preemptionPolicy: Invalid value: "Never": field is immutable'], id="preemption-policy"),
])
def test_priority_class_update(change: Callable[[Obj], None], expected: list[str]) -> None:
    assert update("scheduling.k8s.io", "priorityclasses", priority_class(), change)[1] == expected


RESOURCE_RULE = {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}


@pytest.mark.parametrize(("plural", "obj", "expected"), [
    pytest.param("roles", {"rules": [RESOURCE_RULE]}, [], id="role-valid"),
    pytest.param("roles", {"rules": [{"apiGroups": [""], "resources": ["pods"]}]},
                 ["rules[0].verbs: Required value: verbs must contain at least one value"], id="role-verbs-required"),
    pytest.param("roles", {"rules": [{"verbs": ["get"]}]},
                 ["rules[0].apiGroups: Required value: resource rules must supply at least one api group",
                  "rules[0].resources: Required value: resource rules must supply at least one resource"],
                 id="role-resources-required"),
    pytest.param("roles", {"rules": [{"verbs": ["get"], "nonResourceURLs": ["/healthz"]}]},
                 ['rules[0].nonResourceURLs: Invalid value: ["/healthz"]: namespaced rules cannot apply to '
                  "non-resource URLs"], id="role-non-resource-url"),
    pytest.param("clusterroles", {"rules": [{"verbs": ["get"], "nonResourceURLs": ["/healthz"]}]}, [],
                 id="clusterrole-non-resource-url"),
    pytest.param("clusterroles", {"rules": [{"verbs": ["get"], "nonResourceURLs": ["/x"], "resources": ["pods"]}]},
                 ['rules[0].nonResourceURLs: Invalid value: ["/x"]: rules cannot apply to both regular resources '
                  "and non-resource URLs"], id="clusterrole-mixed-rule"),
    pytest.param("clusterroles", {"aggregationRule": {}},
                 ["aggregationRule.clusterRoleSelectors: Required value: at least one clusterRoleSelector required "
                  "if aggregationRule is non-nil"], id="clusterrole-empty-aggregation"),
])
def test_role_validation(plural: str, obj: Obj, expected: list[str]) -> None:
    md: Obj = {"name": "reader"} | ({"namespace": "default"} if plural == "roles" else {})
    assert create("rbac.authorization.k8s.io", plural, {"metadata": md, **obj})[1] == expected


@pytest.mark.parametrize(("plural", "obj", "expected"), [
    pytest.param("rolebindings", {"roleRef": {"kind": "Role", "name": "reader"},
                                  "subjects": [{"kind": "User", "name": "jane"},
                                               {"kind": "ServiceAccount", "name": "default"}]}, [],
                 id="rolebinding-defaults-api-groups"),
    pytest.param("rolebindings", {"roleRef": {"apiGroup": "example.com", "kind": "Role", "name": "reader"}},
                 ['roleRef.apiGroup: Unsupported value: "example.com": supported values: "rbac.authorization.k8s.io"'],
                 id="rolebinding-foreign-group"),
    pytest.param("clusterrolebindings", {"roleRef": {"kind": "Role", "name": "reader"}},
                 ['roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole"'],
                 id="clusterrolebinding-role-kind"),
    pytest.param("clusterrolebindings", {"roleRef": {"kind": "ClusterRole", "name": "view"},
                                         "subjects": [{"kind": "ServiceAccount", "name": "default"}]},
                 ["subjects[0].namespace: Required value"], id="clusterrolebinding-sa-namespace"),
    pytest.param("rolebindings", {"roleRef": {"kind": "Role", "name": ""}, "subjects": [{"kind": "Robot"}]},
                 ["roleRef.name: Required value", "subjects[0].name: Required value",
                  'subjects[0].kind: Unsupported value: "Robot": supported values: "ServiceAccount", "User", "Group"'],
                 id="rolebinding-bad-subject"),
])
def test_binding_validation(plural: str, obj: Obj, expected: list[str]) -> None:
    md: Obj = {"name": "b"} | ({"namespace": "default"} if plural == "rolebindings" else {})
    stored, problems = create("rbac.authorization.k8s.io", plural, {"metadata": md, **obj})
    assert problems == expected
    assert stored["roleRef"]["apiGroup"] == obj["roleRef"].get("apiGroup", "rbac.authorization.k8s.io")


def test_binding_role_ref_immutable() -> None:
    old = {"metadata": {"name": "b", "namespace": "default"}, "roleRef": {"kind": "Role", "name": "reader"}}
    _, problems = update("rbac.authorization.k8s.io", "rolebindings", old, lambda o: o["roleRef"].update(name="writer"))
    assert problems == ['roleRef: Invalid value: {"APIGroup":"rbac.authorization.k8s.io","Kind":"Role",'
                        '"Name":"writer"}: cannot change roleRef']


def test_every_strategy_keeps_object_meta_validation() -> None:
    for (group, plural), _cls in KIND_STRATEGIES.items():
        info = _INFOS[(group, plural)]
        md: Obj = {"name": "a/b"} | ({"namespace": "default"} if info.namespaced else {})
        problems = strategy_for(group, plural).validate({"metadata": md})
        assert any(p.field == "metadata.name" for p in problems), (group, plural)
