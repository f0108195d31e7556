"""What the workload kinds share: label selectors over a pod template, IntOrString fields, rollouts.

Upstream splits this across ``pkg/apis/apps/validation`` (``ValidatePodTemplateSpecForReplicaSet``,
``ValidatePositiveIntOrPercent``, ``IsNotMoreThan100Percent``) and ``pkg/apis/core/validation``
(``ValidatePodTemplateSpec``). Pod-spec rules are not repeated here: a template's spec is defaulted
and validated by the existing :class:`PodStrategy`, and its errors are re-rooted under the
template's path (``spec.template.spec.containers[0].image``), so a pod and a template say the same.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any, Final

from kubelite.api import labels, validation
from kubelite.api.validation import FieldError, GoStruct, Path
from kubelite.controlplane.apiserver.resources import ResourceInfo
from kubelite.controlplane.apiserver.strategy import PodStrategy

Obj = dict[str, Any]

# Defaults that upstream applies to Pods only (SetDefaults_Pod and admission), never to a PodSpec
# inside a template: keeping them out keeps templates byte-identical to upstream's.
_POD_ONLY_DEFAULTS: Final = ("tolerations", "serviceAccountName", "serviceAccount", "priority",
                             "preemptionPolicy", "enableServiceLinks")
_TEMPLATE_POD_INFO: Final = ResourceInfo("", "v1", "Pod", "pods", False)
_TEMPLATE_POD_STRATEGY: Final = PodStrategy(_TEMPLATE_POD_INFO, unknown_fields=None)
# Template metadata carries no name, but the pod strategy's metadata checks need one.
_TEMPLATE_CHECK_NAME: Final = "template"


def as_dict(value: Any) -> Obj:
    """``value`` when it is a JSON object, else an empty one (bad types are reported elsewhere)."""
    return value if isinstance(value, dict) else {}


def default_pod_template(parent: Obj, key: str = "template") -> None:
    """Upstream SetDefaults_PodSpec and container defaults on ``parent[key]``'s spec, in place.

    An absent template is created: upstream's template is a struct value, never nil, so defaulting
    fills an empty one too (and validation then reports its missing containers).
    """
    template = parent.setdefault(key, {})
    if not isinstance(template, dict):
        return
    spec = template.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    before = set(spec)
    account = spec.get("serviceAccountName") or spec.get("serviceAccount")
    _TEMPLATE_POD_STRATEGY.default({"spec": spec})
    for pod_only in _POD_ONLY_DEFAULTS:
        if pod_only not in before:
            spec.pop(pod_only, None)
    if account:
        # the v1 conversion keeps the deprecated serviceAccount and serviceAccountName in step
        spec["serviceAccountName"] = spec["serviceAccount"] = account


def _rebase(error: FieldError, old_root: str, new_root: str) -> FieldError:
    if error.field == old_root or error.field.startswith((old_root + ".", old_root + "[")):
        return dataclasses.replace(error, field=new_root + error.field[len(old_root):])
    return error


def validate_pod_template(template: Any, path: Path) -> list[FieldError]:
    """Upstream ValidatePodTemplateSpec: template labels and annotations, then the pod spec."""
    if template is None:
        template = {}
    if not isinstance(template, dict):
        return [FieldError.type_invalid(path, template, "must be of type object")]
    metadata = template.get("metadata")
    problems: list[FieldError] = []
    if metadata is not None and not isinstance(metadata, dict):
        return [FieldError.type_invalid(path.child("metadata"), metadata, "must be of type object")]
    md = metadata or {}
    problems.extend(validation.validate_labels(md.get("labels"), path.child("metadata", "labels")))
    problems.extend(validation.validate_annotations(md.get("annotations"), path.child("metadata", "annotations")))
    spec = template.get("spec")
    pod = {"metadata": {"name": _TEMPLATE_CHECK_NAME}, "spec": {} if spec is None else spec}
    spec_root = str(path.child("spec"))
    problems.extend(_rebase(e, "spec", spec_root) for e in _TEMPLATE_POD_STRATEGY.validate(pod)
                    if not e.field.startswith("metadata"))
    return problems


def template_labels(template: Any) -> Any:
    """The template's labels as the message shows them (None renders as ``null``, as a nil map)."""
    return as_dict(as_dict(template).get("metadata")).get("labels")


def selector_value(selector: Any) -> Any:
    """A LabelSelector as Go marshals it: matchLabels before matchExpressions, empty ones omitted."""
    if not isinstance(selector, Mapping):
        return selector
    members: list[tuple[str, Any]] = []
    if selector.get("matchLabels"):
        members.append(("matchLabels", selector["matchLabels"]))
    expressions = selector.get("matchExpressions")
    if expressions:
        members.append(("matchExpressions", [
            GoStruct(tuple((k, e.get(k)) for k in ("key", "operator", "values") if k != "values" or e.get(k)))
            if isinstance(e, Mapping) else e for e in expressions]))
    return GoStruct(tuple(members))


def selector_is_empty(selector: Mapping[str, Any]) -> bool:
    return not selector.get("matchLabels") and not selector.get("matchExpressions")


def to_selector(selector: Any) -> labels.Selector | None:
    """Upstream LabelSelectorAsSelector, or None where it returns an error."""
    try:
        return labels.from_label_selector(selector)
    except (labels.LabelSelectorError, ValueError):
        return None


def validate_selector(selector: Any, path: Path, *, kind_word: str, required: bool = True,
                      check_empty: bool = True) -> list[FieldError]:
    """Selector present (when ``required``), well-formed and not empty ("empty selector is invalid for X")."""
    if selector is None:
        return [FieldError.required(path, "")] if required else []
    problems = validation.validate_label_selector(selector, path)
    if check_empty and isinstance(selector, Mapping) and selector_is_empty(selector):
        problems.append(FieldError.invalid(path, selector_value(selector),
                                           f"empty selector is invalid for {kind_word}"))
    return problems


def selector_matches_template(selector: labels.Selector, template: Any, path: Path) -> list[FieldError]:
    """The `selector` does not match template `labels` check (path is the template's)."""
    found = template_labels(template)
    label_set = {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}
    if not selector.matches(label_set):
        return [FieldError.invalid(path.child("metadata", "labels"), found,
                                   "`selector` does not match template `labels`")]
    return []


def template_restart_policy(template: Any) -> Any:
    return as_dict(as_dict(template).get("spec")).get("restartPolicy")


def validate_always_restart(template: Any, path: Path) -> list[FieldError]:
    """Controllers that keep pods running accept only restartPolicy Always."""
    policy = template_restart_policy(template)
    if policy != "Always":
        return [FieldError.not_supported(path.child("spec", "restartPolicy"), policy, ["Always"])]
    return []


def validate_nonnegative(value: Any, path: Path) -> list[FieldError]:
    """An optional integer field that may not be negative (upstream ValidateNonnegativeField)."""
    if value is None:
        return []
    if isinstance(value, bool) or not isinstance(value, int):
        return [FieldError.type_invalid(path, value, "must be of type integer")]
    return validation.validate_nonnegative_field(value, path)


# -- IntOrString ---------------------------------------------------------------------------------

_DIGITS: Final = re.compile(r"[+-]?[0-9]+")


def _atoi(text: str) -> int:
    """Go strconv.Atoi as IntOrString.IntValue uses it: 0 when the text is not a number."""
    return int(text) if _DIGITS.fullmatch(text) else 0


def percent_value(value: Any) -> int | None:
    """The number in a valid percent string ("25%" -> 25), else None (upstream getPercentValue)."""
    if not isinstance(value, str) or validation.is_valid_percent(value):
        return None
    return int(value[:-1])


def int_or_percent_value(value: Any) -> int:
    """Upstream getIntOrPercentValue: the percent number, or the integer, or 0."""
    percent = percent_value(value)
    if percent is not None:
        return percent
    if isinstance(value, str):
        return _atoi(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return 0


def validate_positive_int_or_percent(value: Any, path: Path) -> list[FieldError]:
    """Upstream ValidatePositiveIntOrPercent: a non-negative integer or a valid percent string."""
    if value is None:
        return []
    if isinstance(value, str):
        return [FieldError.invalid(path, value, msg) for msg in validation.is_valid_percent(value)]
    if isinstance(value, bool) or not isinstance(value, int):
        return [FieldError.type_invalid(path, value, "must be an integer or a percent string")]
    return validation.validate_nonnegative_field(value, path)


def validate_not_more_than_100_percent(value: Any, path: Path) -> list[FieldError]:
    percent = percent_value(value)
    if percent is None or percent <= 100:
        return []
    return [FieldError.invalid(path, value, "must not be greater than 100%")]


def validate_selector_immutable(new: Obj, old: Obj) -> list[FieldError]:
    """apps/v1 and batch/v1: spec.selector may not change (upstream checks the new value)."""
    new_selector = as_dict(new.get("spec")).get("selector")
    old_selector = as_dict(old.get("spec")).get("selector")
    if new_selector != old_selector:
        return [FieldError.invalid(Path("spec", "selector"), selector_value(new_selector),
                                   validation.FIELD_IMMUTABLE_ERROR_MSG)]
    return []
