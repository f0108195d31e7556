"""batch/v1 Jobs and CronJobs: selector generation, defaulting and validation.

Follows upstream ``pkg/registry/batch/job/strategy.go`` (``PrepareForCreate`` generating the
selector and the template's ``controller-uid``/``job-name`` labels, in both the legacy and the
``batch.kubernetes.io/`` spelling), ``pkg/apis/batch/v1/defaults.go`` (``SetDefaults_Job``,
``SetDefaults_CronJob``) and ``pkg/apis/batch/validation/validation.go``. Schedules are parsed by
:mod:`.cron`, which mirrors the cron library upstream uses, so errors read the same.
"""

from __future__ import annotations

import re
import zoneinfo
from typing import Any, Final

from kubelite.api import validation
from kubelite.api.meta import meta
from kubelite.api.validation import FieldError, Path
from kubelite.controlplane.apiserver.kinds.cron import CronError, parse_standard
from kubelite.controlplane.apiserver.kinds.workloads import (
    Obj,
    as_dict,
    default_pod_template,
    selector_matches_template,
    selector_value,
    template_restart_policy,
    to_selector,
    validate_nonnegative,
    validate_pod_template,
)
from kubelite.controlplane.apiserver.strategy import Strategy

LEGACY_CONTROLLER_UID_LABEL: Final = "controller-uid"
LEGACY_JOB_NAME_LABEL: Final = "job-name"
CONTROLLER_UID_LABEL: Final = "batch.kubernetes.io/controller-uid"
JOB_NAME_LABEL: Final = "batch.kubernetes.io/job-name"
MAX_PARALLELISM_FOR_INDEXED_JOB: Final = 100_000
_INT32_MAX: Final = 2**31 - 1
_COMPLETION_MODES: Final = ("NonIndexed", "Indexed")
_JOB_RESTART_POLICIES: Final = ("OnFailure", "Never")
_POD_REPLACEMENT_POLICIES: Final = ("Failed", "TerminatingOrFailed")
# fields of a suspended, never-started Job's template that may change (upstream "mutable scheduling
# directives"): everything else in the template is immutable
_MUTABLE_SCHEDULING_SPEC: Final = ("nodeSelector", "tolerations", "affinity", "schedulingGates")


def generate_selector(job: Obj) -> None:
    """Upstream generateSelector: label the template with the Job's name and uid and select the uid.

    Labels the user already set are kept: a conflicting value is reported by validation instead.
    """
    md = meta(job)
    name, uid = str(md.get("name", "")), str(md.get("uid", ""))
    spec = job.setdefault("spec", {})
    template = spec.setdefault("template", {})
    template_md = template.setdefault("metadata", {})
    template_labels = template_md.get("labels")
    if not isinstance(template_labels, dict):
        template_labels = template_md["labels"] = {}
    for key in (LEGACY_JOB_NAME_LABEL, JOB_NAME_LABEL):
        template_labels.setdefault(key, name)
    for key in (LEGACY_CONTROLLER_UID_LABEL, CONTROLLER_UID_LABEL):
        template_labels.setdefault(key, uid)
    selector = spec.get("selector")
    if not isinstance(selector, dict):
        selector = spec["selector"] = {}
    match_labels = selector.get("matchLabels")
    if not isinstance(match_labels, dict):
        match_labels = selector["matchLabels"] = {}
    match_labels.setdefault(CONTROLLER_UID_LABEL, uid)


def _default_job_spec(spec: Obj) -> None:
    """The spec half of upstream SetDefaults_Job."""
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
        spec["parallelism"] = 1
    if spec.get("parallelism") is None:
        spec["parallelism"] = 1
    if spec.get("backoffLimit") is None:
        spec["backoffLimit"] = _INT32_MAX if spec.get("backoffLimitPerIndex") is not None else 6
    if spec.get("completionMode") is None:
        spec["completionMode"] = "NonIndexed"
    if spec.get("suspend") is None:
        spec["suspend"] = False
    failure_policy = spec.get("podFailurePolicy")
    if isinstance(failure_policy, dict):
        for rule in failure_policy.get("rules") or []:
            for pattern in as_dict(rule).get("onPodConditions") or []:
                if isinstance(pattern, dict) and not pattern.get("status"):
                    pattern["status"] = "True"
    if spec.get("podReplacementPolicy") is None:
        spec["podReplacementPolicy"] = "Failed" if failure_policy is not None else "TerminatingOrFailed"
    if spec.get("manualSelector") is None:
        spec["manualSelector"] = False


def _validate_job_spec(spec: Obj, path: Path) -> list[FieldError]:
    """Upstream validateJobSpec: the rules a Job and a CronJob's job template share."""
    problems: list[FieldError] = []
    for name in ("parallelism", "completions", "activeDeadlineSeconds", "backoffLimit",
                 "ttlSecondsAfterFinished", "backoffLimitPerIndex", "maxFailedIndexes"):
        problems.extend(validate_nonnegative(spec.get(name), path.child(name)))
    if spec.get("maxFailedIndexes") is not None and spec.get("backoffLimitPerIndex") is None:
        problems.append(FieldError.required(path.child("backoffLimitPerIndex"), "when maxFailedIndexes is specified"))
    mode = spec.get("completionMode")
    if mode is not None:
        if mode not in _COMPLETION_MODES:
            problems.append(FieldError.not_supported(path.child("completionMode"), mode, _COMPLETION_MODES))
        if mode == "Indexed":
            if spec.get("completions") is None:
                problems.append(FieldError.required(path.child("completions"), "when completion mode is Indexed"))
            parallelism = spec.get("parallelism")
            if isinstance(parallelism, int) and parallelism > MAX_PARALLELISM_FOR_INDEXED_JOB:
                problems.append(FieldError.invalid(
                    path.child("parallelism"), parallelism,
                    f"must be less than or equal to {MAX_PARALLELISM_FOR_INDEXED_JOB} when completion mode is Indexed"))
    if mode in (None, "NonIndexed"):
        for name in ("backoffLimitPerIndex", "maxFailedIndexes"):
            if spec.get(name) is not None:
                problems.append(FieldError.invalid(path.child(name), spec[name], "requires indexed completion mode"))
    replacement = spec.get("podReplacementPolicy")
    if replacement is not None:
        allowed = ("Failed",) if spec.get("podFailurePolicy") is not None else _POD_REPLACEMENT_POLICIES
        if replacement not in allowed:
            problems.append(FieldError.not_supported(path.child("podReplacementPolicy"), replacement, allowed))
    template_path = path.child("template")
    template = spec.get("template")
    problems.extend(validate_pod_template(template, template_path))
    policy = template_restart_policy(template)
    policy_path = template_path.child("spec", "restartPolicy")
    if policy in ("Always", "", None):
        # upstream words it as "required": Always is what an unset restartPolicy defaults to
        problems.append(FieldError.required(policy_path, 'valid values: "OnFailure", "Never"'))
    elif policy not in _JOB_RESTART_POLICIES:
        problems.append(FieldError.not_supported(policy_path, policy, _JOB_RESTART_POLICIES))
    elif spec.get("podFailurePolicy") is not None and policy != "Never":
        problems.append(FieldError.invalid(policy_path, policy,
                                           'only "Never" is supported when podFailurePolicy is specified'))
    return problems


def _validate_has_label(template: Any, path: Path, key: str, expected: str) -> list[FieldError]:
    """Upstream ValidateHasLabel on the template's metadata."""
    found = as_dict(as_dict(template).get("metadata")).get("labels")
    label_set = as_dict(found)
    if key not in label_set:
        return [FieldError.required(path.child("labels").key(key), f"must be '{expected}'")]
    if label_set[key] != expected:
        return [FieldError.invalid(path.child("labels").key(key), found, f"must be '{expected}'")]
    return []


class JobStrategy(Strategy):
    """batch/v1 Job."""

    def prepare_for_create(self, obj: Obj) -> None:
        super().prepare_for_create(obj)
        if as_dict(obj.get("spec")).get("manualSelector") is not True:
            generate_selector(obj)

    def default(self, obj: Obj) -> None:
        super().default(obj)
        spec = obj.setdefault("spec", {})
        if not isinstance(spec, dict):
            return
        _default_job_spec(spec)
        template_labels = as_dict(as_dict(spec.get("template")).get("metadata")).get("labels")
        md = meta(obj)
        if isinstance(template_labels, dict) and not md.get("labels"):
            md["labels"] = dict(template_labels)
        default_pod_template(spec)

    def validate(self, obj: Obj) -> list[FieldError]:
        problems = super().validate(obj)
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return [*problems, FieldError.required(Path("spec"), "")]
        if spec.get("manualSelector") is not True:
            problems.extend(self._validate_generated_selector(obj, spec))
        problems.extend(_validate_job_spec(spec, Path("spec")))
        selector_path = Path("spec", "selector")
        selector = spec.get("selector")
        if selector is None:
            problems.append(FieldError.required(selector_path, ""))
        else:
            problems.extend(validation.validate_label_selector(selector, selector_path))
        parsed = to_selector(selector)
        if parsed is not None:
            problems.extend(selector_matches_template(parsed, spec.get("template"), Path("spec", "template")))
        completions = spec.get("completions")
        if spec.get("completionMode") == "Indexed" and isinstance(completions, int) and completions > 0:
            name = str(meta(obj).get("name", ""))
            hostname = f"{name}-{completions - 1}"
            if validation.is_dns1123_label(hostname):
                problems.append(FieldError.invalid(Path("metadata", "name"), name,
                                                   f"will not able to create pod with invalid DNS label: {hostname}"))
        return problems

    @staticmethod
    def _validate_generated_selector(obj: Obj, spec: Obj) -> list[FieldError]:
        """Upstream validateGeneratedSelector: the generated labels are present and selected."""
        template = spec.get("template")
        selector = spec.get("selector")
        if selector is None:
            return []  # reported as required by the spec checks
        md = meta(obj)
        name, uid = str(md.get("name", "")), str(md.get("uid", ""))
        problems: list[FieldError] = []
        if not uid:
            problems.append(FieldError.required(Path("metadata", "uid"), ""))
        template_md = Path("spec", "template", "metadata")
        generated = {LEGACY_CONTROLLER_UID_LABEL: uid, LEGACY_JOB_NAME_LABEL: name,
                     CONTROLLER_UID_LABEL: uid, JOB_NAME_LABEL: name}
        for key, value in generated.items():
            problems.extend(_validate_has_label(template, template_md, key, value))
        parsed = to_selector(selector)
        if parsed is not None and not parsed.matches(generated):
            problems.append(FieldError.invalid(Path("spec", "selector"), selector_value(selector),
                                               "`selector` not auto-generated"))
        return problems

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        problems = super().validate_update(new, old)
        spec, old_spec = as_dict(new.get("spec")), as_dict(old.get("spec"))
        path = Path("spec")
        if spec.get("completions") != old_spec.get("completions"):
            # Indexed Jobs are elastic: completions may follow parallelism (upstream ElasticIndexedJob)
            if spec.get("completionMode") == "Indexed" and old_spec.get("completionMode") == "Indexed":
                if spec.get("completions") != spec.get("parallelism"):
                    problems.append(FieldError.invalid(path.child("completions"), spec.get("completions"),
                                                       "can only be modified in tandem with spec.parallelism"))
            else:
                problems.extend(validation.validate_immutable_field(spec.get("completions"),
                                                                    old_spec.get("completions"),
                                                                    path.child("completions")))
        if spec.get("selector") != old_spec.get("selector"):
            problems.append(FieldError.invalid(path.child("selector"), selector_value(spec.get("selector")),
                                               validation.FIELD_IMMUTABLE_ERROR_MSG))
        problems.extend(self._validate_template_update(new, old))
        for name in ("completionMode", "podFailurePolicy", "backoffLimitPerIndex", "managedBy"):
            problems.extend(validation.validate_immutable_field(spec.get(name), old_spec.get(name), path.child(name)))
        return problems

    @staticmethod
    def _validate_template_update(new: Obj, old: Obj) -> list[FieldError]:
        """The template is immutable, except scheduling directives of a suspended Job never started."""
        template = as_dict(new.get("spec")).get("template")
        old_template = as_dict(old.get("spec")).get("template")
        if template == old_template:
            return []
        old_spec = as_dict(old.get("spec"))
        never_started = old_spec.get("suspend") is True and not as_dict(old.get("status")).get("startTime")
        if never_started:
            def rest(t: Any) -> Obj:
                copy_md = {k: v for k, v in as_dict(as_dict(t).get("metadata")).items()
                           if k not in ("labels", "annotations")}
                copy_spec = {k: v for k, v in as_dict(as_dict(t).get("spec")).items()
                             if k not in _MUTABLE_SCHEDULING_SPEC}
                return {"metadata": copy_md, "spec": copy_spec}
            if rest(template) == rest(old_template):
                return []
        return [FieldError.invalid(Path("spec", "template"), template, validation.FIELD_IMMUTABLE_ERROR_MSG)]


_CONCURRENCY_POLICIES: Final = ("Allow", "Forbid", "Replace")
_TIME_ZONE_PART: Final = re.compile(r"[A-Za-z.\-_0-9+]{1,14}")
# Job names get an 11-character suffix from the CronJob controller: 63 - 11
MAX_CRONJOB_NAME_LENGTH: Final = 52


def _load_location_error(zone: str) -> str | None:
    """Go time.LoadLocation's error for ``zone``, or None when it loads."""
    if zone in ("", "UTC", "Local"):
        return None
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {zone}"
    return None


def validate_time_zone(zone: Any, path: Path) -> list[FieldError]:
    """Upstream validateTimeZone."""
    if zone is None:
        return []
    if not isinstance(zone, str):
        return [FieldError.type_invalid(path, zone, "must be of type string")]
    if not zone:
        return [FieldError.invalid(path, zone, "timeZone must be nil or non-empty string")]
    problems: list[FieldError] = []
    if zone.lower() == "local":
        problems.append(FieldError.invalid(
            path, zone, "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones"))
    error = _load_location_error(zone)
    if error:
        problems.append(FieldError.invalid(path, zone, error))
    for part in zone.split("/"):
        if part in (".", "..") or part.startswith("-") or not _TIME_ZONE_PART.fullmatch(part):
            problems.append(FieldError.invalid(path, zone, f"unknown time zone {zone}"))
            break
    return problems


def validate_schedule(schedule: str, path: Path) -> list[FieldError]:
    """Upstream validateScheduleFormat (TZ in the schedule is refused on create, as upstream)."""
    problems: list[FieldError] = []
    try:
        parse_standard(schedule)
    except CronError as exc:
        problems.append(FieldError.invalid(path, schedule, str(exc)))
    if "TZ" in schedule:
        problems.append(FieldError.invalid(path, schedule,
                                           "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"))
    return problems


class CronJobStrategy(Strategy):
    """batch/v1 CronJob."""

    def default(self, obj: Obj) -> None:
        super().default(obj)
        spec = obj.setdefault("spec", {})
        if not isinstance(spec, dict):
            return
        if not spec.get("concurrencyPolicy"):
            spec["concurrencyPolicy"] = "Allow"
        if spec.get("suspend") is None:
            spec["suspend"] = False
        if spec.get("successfulJobsHistoryLimit") is None:
            spec["successfulJobsHistoryLimit"] = 3
        if spec.get("failedJobsHistoryLimit") is None:
            spec["failedJobsHistoryLimit"] = 1
        job_template = spec.setdefault("jobTemplate", {})
        if isinstance(job_template, dict):
            job_spec = job_template.setdefault("spec", {})
            if isinstance(job_spec, dict):
                default_pod_template(job_spec)

    def validate(self, obj: Obj) -> list[FieldError]:
        problems = super().validate(obj)
        name = str(meta(obj).get("name", ""))
        if len(name) > MAX_CRONJOB_NAME_LENGTH:
            problems.append(FieldError.invalid(Path("metadata", "name"), name,
                                               f"must be no more than {MAX_CRONJOB_NAME_LENGTH} characters"))
        spec = obj.get("spec")
        path = Path("spec")
        if not isinstance(spec, dict):
            return [*problems, FieldError.required(path, "")]
        schedule = spec.get("schedule")
        if not schedule:
            problems.append(FieldError.required(path.child("schedule"), ""))
        elif not isinstance(schedule, str):
            problems.append(FieldError.type_invalid(path.child("schedule"), schedule, "must be of type string"))
        else:
            problems.extend(validate_schedule(schedule, path.child("schedule")))
        problems.extend(validate_nonnegative(spec.get("startingDeadlineSeconds"),
                                             path.child("startingDeadlineSeconds")))
        policy = spec.get("concurrencyPolicy")
        if not policy:
            problems.append(FieldError.required(path.child("concurrencyPolicy"), ""))
        elif policy not in _CONCURRENCY_POLICIES:
            problems.append(FieldError.not_supported(path.child("concurrencyPolicy"), policy, _CONCURRENCY_POLICIES))
        problems.extend(self._validate_job_template(as_dict(spec.get("jobTemplate")), path.child("jobTemplate")))
        for name_ in ("successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
            problems.extend(validate_nonnegative(spec.get(name_), path.child(name_)))
        problems.extend(validate_time_zone(spec.get("timeZone"), path.child("timeZone")))
        return problems

    @staticmethod
    def _validate_job_template(job_template: Obj, path: Path) -> list[FieldError]:
        """Upstream ValidateJobTemplateSpec: the Job's rules, and no selector of its own."""
        job_spec = as_dict(job_template.get("spec"))
        spec_path = path.child("spec")
        problems = _validate_job_spec(job_spec, spec_path)
        if job_spec.get("selector") is not None:
            problems.append(FieldError.invalid(spec_path.child("selector"), selector_value(job_spec["selector"]),
                                               "`selector` will be auto-generated"))
        if job_spec.get("manualSelector") is True:
            problems.append(FieldError.not_supported(spec_path.child("manualSelector"), True, ["nil", "false"]))
        problems.extend(validation.validate_labels(
            as_dict(job_template.get("metadata")).get("labels"), path.child("metadata", "labels")))
        return problems


