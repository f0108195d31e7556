"""rbac.authorization.k8s.io/v1 Roles, ClusterRoles and their bindings (upstream ``pkg/apis/rbac/validation``).

A rule names verbs and either resources (with API groups) or, on ClusterRoles only, non-resource
URLs. Bindings reference a role in the RBAC group and name valid subjects; ``roleRef`` never
changes. Defaults are upstream's ``SetDefaults_RoleBinding``/``_Subject`` (API groups filled in).
"""

from __future__ import annotations

from typing import Any, Final

from kubelite.api import validation
from kubelite.api.validation import FieldError, GoStruct, Path
from kubelite.controlplane.apiserver.kinds.workloads import Obj, as_dict
from kubelite.controlplane.apiserver.strategy import RBACStrategy

GROUP_NAME: Final = "rbac.authorization.k8s.io"
SUBJECT_KINDS: Final = ("ServiceAccount", "User", "Group")


def validate_policy_rule(rule: Any, *, namespaced: bool, path: Path) -> list[FieldError]:
    """Upstream ValidatePolicyRule."""
    if not isinstance(rule, dict):
        return [FieldError.type_invalid(path, rule, "must be of type object")]
    problems: list[FieldError] = []
    if not rule.get("verbs"):
        problems.append(FieldError.required(path.child("verbs"), "verbs must contain at least one value"))
    urls = rule.get("nonResourceURLs")
    if urls:
        if namespaced:
            problems.append(FieldError.invalid(path.child("nonResourceURLs"), urls,
                                               "namespaced rules cannot apply to non-resource URLs"))
        if rule.get("apiGroups") or rule.get("resources") or rule.get("resourceNames"):
            problems.append(FieldError.invalid(path.child("nonResourceURLs"), urls,
                                               "rules cannot apply to both regular resources and non-resource URLs"))
        return problems
    if not rule.get("apiGroups"):
        problems.append(FieldError.required(path.child("apiGroups"),
                                            "resource rules must supply at least one api group"))
    if not rule.get("resources"):
        problems.append(FieldError.required(path.child("resources"),
                                            "resource rules must supply at least one resource"))
    return problems


def _validate_rules(obj: Obj, *, namespaced: bool) -> list[FieldError]:
    rules = obj.get("rules")
    if rules is None:
        return []
    if not isinstance(rules, list):
        return [FieldError.type_invalid(Path("rules"), rules, "must be of type array")]
    problems: list[FieldError] = []
    for i, rule in enumerate(rules):
        problems.extend(validate_policy_rule(rule, namespaced=namespaced, path=Path("rules").index(i)))
    return problems


class RoleStrategy(RBACStrategy):
    """rbac.authorization.k8s.io/v1 Role."""

    def validate(self, obj: Obj) -> list[FieldError]:
        return [*super().validate(obj), *_validate_rules(obj, namespaced=True)]


class ClusterRoleStrategy(RBACStrategy):
    """rbac.authorization.k8s.io/v1 ClusterRole (rules may name non-resource URLs; aggregation)."""

    def validate(self, obj: Obj) -> list[FieldError]:
        problems = [*super().validate(obj), *_validate_rules(obj, namespaced=False)]
        aggregation = obj.get("aggregationRule")
        if aggregation is not None:
            path = Path("aggregationRule", "clusterRoleSelectors")
            selectors = as_dict(aggregation).get("clusterRoleSelectors")
            if not selectors:
                problems.append(FieldError.required(
                    path, "at least one clusterRoleSelector required if aggregationRule is non-nil"))
            elif isinstance(selectors, list):
                for i, selector in enumerate(selectors):
                    problems.extend(validation.validate_label_selector(selector, path.index(i)))
        return problems


def _default_subjects(obj: Obj) -> None:
    for subject in obj.get("subjects") or []:
        if isinstance(subject, dict) and not subject.get("apiGroup"):
            if subject.get("kind") == "ServiceAccount":
                subject["apiGroup"] = ""
            elif subject.get("kind") in ("User", "Group"):
                subject["apiGroup"] = GROUP_NAME


def validate_subject(subject: Any, *, namespaced: bool, path: Path) -> list[FieldError]:
    """Upstream ValidateRoleBindingSubject."""
    if not isinstance(subject, dict):
        return [FieldError.type_invalid(path, subject, "must be of type object")]
    problems: list[FieldError] = []
    name, kind, group = subject.get("name") or "", subject.get("kind") or "", subject.get("apiGroup") or ""
    if not name:
        problems.append(FieldError.required(path.child("name"), ""))
    if kind == "ServiceAccount":
        if name:
            problems.extend(FieldError.invalid(path.child("name"), name, msg)
                            for msg in validation.name_is_dns_subdomain(str(name), False))
        if group:
            problems.append(FieldError.not_supported(path.child("apiGroup"), group, [""]))
        if not namespaced and not subject.get("namespace"):
            problems.append(FieldError.required(path.child("namespace"), ""))
    elif kind in ("User", "Group"):
        if group != GROUP_NAME:
            problems.append(FieldError.not_supported(path.child("apiGroup"), group, [GROUP_NAME]))
    else:
        problems.append(FieldError.not_supported(path.child("kind"), kind, SUBJECT_KINDS))
    return problems


def _role_ref_value(ref: Any) -> Any:
    # upstream prints the internal Go struct, whose fields carry no json tags
    ref = as_dict(ref)
    return GoStruct((("APIGroup", ref.get("apiGroup") or ""), ("Kind", ref.get("kind") or ""),
                     ("Name", ref.get("name") or "")))


class _BindingStrategy(RBACStrategy):
    role_kinds: tuple[str, ...] = ("Role", "ClusterRole")
    namespaced_subjects: bool = True

    def default(self, obj: Obj) -> None:
        super().default(obj)
        ref = obj.get("roleRef")
        if isinstance(ref, dict) and not ref.get("apiGroup"):
            ref["apiGroup"] = GROUP_NAME
        _default_subjects(obj)

    def validate(self, obj: Obj) -> list[FieldError]:
        problems = super().validate(obj)
        ref = as_dict(obj.get("roleRef"))
        path = Path("roleRef")
        if ref.get("apiGroup") != GROUP_NAME:
            problems.append(FieldError.not_supported(path.child("apiGroup"), ref.get("apiGroup") or "", [GROUP_NAME]))
        if ref.get("kind") not in self.role_kinds:
            problems.append(FieldError.not_supported(path.child("kind"), ref.get("kind") or "", self.role_kinds))
        name = ref.get("name") or ""
        if not name:
            problems.append(FieldError.required(path.child("name"), ""))
        else:
            problems.extend(FieldError.invalid(path.child("name"), name, msg)
                            for msg in validation.validate_path_segment_name(str(name), False))
        subjects = obj.get("subjects") or []
        if isinstance(subjects, list):
            for i, subject in enumerate(subjects):
                problems.extend(validate_subject(subject, namespaced=self.namespaced_subjects,
                                                 path=Path("subjects").index(i)))
        return problems

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        problems = super().validate_update(new, old)
        if as_dict(new.get("roleRef")) != as_dict(old.get("roleRef")):
            problems.append(FieldError.invalid(Path("roleRef"), _role_ref_value(new.get("roleRef")),
                                               "cannot change roleRef"))
        return problems


class RoleBindingStrategy(_BindingStrategy):
    """rbac.authorization.k8s.io/v1 RoleBinding."""


class ClusterRoleBindingStrategy(_BindingStrategy):
    """rbac.authorization.k8s.io/v1 ClusterRoleBinding: only ClusterRoles; ServiceAccounts need a namespace."""

    role_kinds = ("ClusterRole",)
    namespaced_subjects = False
