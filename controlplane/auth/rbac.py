"""RBAC: Roles, ClusterRoles and their bindings decide what a user may do (upstream's RBAC authorizer).

Design
------
The authorizer answers from an index built from the watch cache's Roles, ClusterRoles, RoleBindings
and ClusterRoleBindings: subject -> rules, cluster-wide and per namespace, with ServiceAccount
subjects turned into their user names. The index is rebuilt lazily, on the first question after any
RBAC object changed (``invalidate`` is called by a watch on those four resources), so a request
costs a dict lookup plus the rule matching of the user's own rules.

Matching follows ``rbac/validation``: a rule allows a resource request when its verbs, apiGroups and
resources (``*``, ``pods``, ``pods/log``, ``*/scale``, ``pods/*``) match and its resourceNames are
empty or contain the request's name; a non-resource request when its verbs and nonResourceURLs
(``*``, exact, or a ``/prefix*``) match. RBAC only allows: anything else has no opinion.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any, Final

from kubelite.api import labels as label_selectors
from kubelite.controlplane.auth.authentication import UserInfo
from kubelite.controlplane.auth.authorization import Attributes, Decision

Obj = dict[str, Any]
Rule = dict[str, Any]
SubjectKey = tuple[str, str]  # ("User" | "Group", name)

ROLES: Final = "/rbac.authorization.k8s.io/roles/"
CLUSTER_ROLES: Final = "/rbac.authorization.k8s.io/clusterroles/"
ROLE_BINDINGS: Final = "/rbac.authorization.k8s.io/rolebindings/"
CLUSTER_ROLE_BINDINGS: Final = "/rbac.authorization.k8s.io/clusterrolebindings/"
PREFIXES: Final = (ROLES, CLUSTER_ROLES, ROLE_BINDINGS, CLUSTER_ROLE_BINDINGS)


def _has(values: Any, wanted: str) -> bool:
    return isinstance(values, list) and ("*" in values or wanted in values)


def _resource_matches(resources: Any, resource: str, subresource: str) -> bool:
    if not isinstance(resources, list):
        return False
    combined = f"{resource}/{subresource}" if subresource else resource
    for item in resources:
        if item in ("*", combined):
            return True
        if subresource and item in (f"*/{subresource}", f"{resource}/*"):
            return True
    return False


def _url_matches(urls: Any, path: str) -> bool:
    if not isinstance(urls, list):
        return False
    for url in urls:
        if url in ("*", path):
            return True
        if isinstance(url, str) and url.endswith("*") and path.startswith(url[:-1]):
            return True
    return False


def rule_allows(rule: Rule, attributes: Attributes) -> bool:
    """Does one PolicyRule allow the request (upstream's RuleAllows)?"""
    if not _has(rule.get("verbs"), attributes.verb):
        return False
    if not attributes.resource_request:
        return _url_matches(rule.get("nonResourceURLs"), attributes.path)
    if not _has(rule.get("apiGroups"), attributes.api_group):
        return False
    if not _resource_matches(rule.get("resources"), attributes.resource, attributes.subresource):
        return False
    names = rule.get("resourceNames") or []
    return not names or attributes.name in names


# what the rules matching a request grant, whatever its object's name: every name (ANY_NAME), or the
# resourceNames lists of the matching rules that name objects (the request's name must be in one)
ANY_NAME: Final = None
Grant = tuple[Any, ...] | None


def rules_grant(rules: Iterable[Rule], attributes: Attributes) -> Grant:
    """``rule_allows`` split in two: what ``rules`` grant to the request but its name (a request with the
    same verb, group, resource and subresource or path gets the same grant)."""
    named: list[Any] = []
    for rule in rules:
        if not _has(rule.get("verbs"), attributes.verb):
            continue
        if not attributes.resource_request:
            if _url_matches(rule.get("nonResourceURLs"), attributes.path):
                return ANY_NAME
            continue
        if not _has(rule.get("apiGroups"), attributes.api_group):
            continue
        if not _resource_matches(rule.get("resources"), attributes.resource, attributes.subresource):
            continue
        names = rule.get("resourceNames") or []
        if not names:
            return ANY_NAME
        named.append(names)
    return tuple(named)


def grant_allows(grant: Grant, name: str) -> bool:
    """Whether a request for the object ``name`` is allowed by ``grant`` (as ``rule_allows`` on each rule)."""
    return grant is ANY_NAME or any(name in names for names in grant)


def subject_keys(user: UserInfo) -> list[SubjectKey]:
    return [("User", user.name), *(("Group", g) for g in user.groups)]


def _subject_key(subject: Any, binding_namespace: str) -> SubjectKey | None:
    if not isinstance(subject, dict):
        return None
    kind, name = subject.get("kind"), subject.get("name")
    if not isinstance(name, str) or not name:
        return None
    if kind == "ServiceAccount":
        namespace = subject.get("namespace") or binding_namespace
        return ("User", f"system:serviceaccount:{namespace}:{name}")
    if kind in ("User", "Group"):
        return (str(kind), name)
    return None


GRANTS_REMEMBERED: Final = 4096


class RBACAuthorizer:
    """Allows what some binding of the user grants; ``invalidate()`` after any RBAC change."""

    def __init__(self, list_objects: Callable[[str], list[Obj]]) -> None:
        self.list_objects = list_objects
        self._dirty = True
        self._cluster: dict[SubjectKey, list[Rule]] = {}
        self._namespaced: dict[str, dict[SubjectKey, list[Rule]]] = {}
        # (user, groups, verb, request but its name) -> Grant, from the index as it is now: emptied with
        # each rebuild, and a question first rebuilds an index that an RBAC change made dirty, so an
        # answer from here is never older than the index (a client repeats the same few requests)
        self._grants: dict[tuple[Any, ...], Grant] = {}

    def invalidate(self) -> None:
        self._dirty = True

    def _rebuild(self) -> None:
        cluster_roles = {o["metadata"]["name"]: o.get("rules") or [] for o in self.list_objects(CLUSTER_ROLES)}
        roles = {(o["metadata"].get("namespace"), o["metadata"]["name"]): o.get("rules") or []
                 for o in self.list_objects(ROLES)}
        cluster: dict[SubjectKey, list[Rule]] = defaultdict(list)
        for binding in self.list_objects(CLUSTER_ROLE_BINDINGS):
            ref = binding.get("roleRef") or {}
            rules = cluster_roles.get(ref.get("name")) if ref.get("kind") == "ClusterRole" else None
            if not rules:
                continue
            for subject in binding.get("subjects") or []:
                key = _subject_key(subject, "")
                if key is not None:
                    cluster[key].extend(rules)
        namespaced: dict[str, dict[SubjectKey, list[Rule]]] = defaultdict(lambda: defaultdict(list))
        for binding in self.list_objects(ROLE_BINDINGS):
            namespace = binding["metadata"].get("namespace") or ""
            ref = binding.get("roleRef") or {}
            if ref.get("kind") == "ClusterRole":
                rules = cluster_roles.get(ref.get("name"))
            elif ref.get("kind") == "Role":
                rules = roles.get((namespace, ref.get("name")))
            else:
                rules = None
            if not rules:
                continue
            for subject in binding.get("subjects") or []:
                key = _subject_key(subject, namespace)
                if key is not None:
                    namespaced[namespace][key].extend(rules)
        self._cluster = dict(cluster)
        self._namespaced = {ns: dict(index) for ns, index in namespaced.items()}
        self._grants = {}
        self._dirty = False

    def _rules(self, user: UserInfo, namespace: str) -> list[Rule]:
        if self._dirty:
            self._rebuild()
        keys = subject_keys(user)
        rules = [rule for key in keys for rule in self._cluster.get(key, ())]
        if namespace:
            index = self._namespaced.get(namespace, {})
            rules += [rule for key in keys for rule in index.get(key, ())]
        return rules

    def authorize(self, attributes: Attributes) -> tuple[Decision, str]:
        """Allow when some rule of the user's allows (``rule_allows``); the rules' grant to a request is
        remembered without its name, which is then looked up in the grant."""
        if self._dirty:
            self._rebuild()
        user = attributes.user
        key = (user.name, user.groups, attributes.verb, attributes.resource_request, attributes.api_group,
               attributes.resource, attributes.subresource, attributes.namespace,
               "" if attributes.resource_request else attributes.path)
        try:
            grant = self._grants[key]
        except KeyError:
            grant = self._grant(attributes)
            if len(self._grants) >= GRANTS_REMEMBERED:
                self._grants.clear()  # many distinct requests: start again rather than grow
            self._grants[key] = grant
        except TypeError:  # a user built with unhashable groups: answer without remembering
            grant = self._grant(attributes)
        if grant_allows(grant, attributes.name):
            return Decision.ALLOW, ""
        return Decision.NO_OPINION, ""

    def _grant(self, attributes: Attributes) -> Grant:
        return rules_grant(self._rules(attributes.user, attributes.namespace), attributes)

    def rules_for(self, user: UserInfo, namespace: str) -> tuple[list[Rule], list[Rule]]:
        resource_rules: list[Rule] = []
        non_resource: list[Rule] = []
        for rule in self._rules(user, namespace):
            if rule.get("nonResourceURLs"):
                non_resource.append({"verbs": list(rule.get("verbs") or []),
                                     "nonResourceURLs": list(rule["nonResourceURLs"])})
            else:
                out: Rule = {"verbs": list(rule.get("verbs") or []), "apiGroups": list(rule.get("apiGroups") or []),
                             "resources": list(rule.get("resources") or [])}
                if rule.get("resourceNames"):
                    out["resourceNames"] = list(rule["resourceNames"])
                resource_rules.append(out)
        return resource_rules, non_resource


def aggregate(cluster_roles: list[Obj]) -> dict[str, list[Rule]]:
    """Upstream's ClusterRole aggregation controller, as a pure function: for each role with an
    aggregationRule, the union (first-seen order, no duplicates) of the rules of every ClusterRole its
    selectors match. Returns name -> rules for the roles whose rules should change."""

    changes: dict[str, list[Rule]] = {}
    by_name = sorted(cluster_roles, key=lambda o: o["metadata"]["name"])
    for role in by_name:
        rule = role.get("aggregationRule")
        if not isinstance(rule, dict):
            continue
        selectors = [label_selectors.from_label_selector(s) for s in rule.get("clusterRoleSelectors") or []
                     if isinstance(s, dict)]
        wanted: list[Rule] = []
        for other in by_name:
            if other is role:
                continue
            labels = other["metadata"].get("labels") or {}
            if any(s.matches(labels) for s in selectors):
                for r in other.get("rules") or []:
                    if r not in wanted:
                        wanted.append(r)
        if (role.get("rules") or []) != wanted:
            changes[role["metadata"]["name"]] = wanted
    return changes
