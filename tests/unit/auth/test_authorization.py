"""Request attributes, RBAC rule matching and indexing, aggregation, the Node authorizer, reviews, CSRs."""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from kubelite.controlplane.auth import bootstrap_policy, csr
from kubelite.controlplane.auth.authentication import Authenticator, UserInfo
from kubelite.controlplane.auth.authorization import (
    Attributes,
    Authorizers,
    Decision,
    forbidden_message,
    request_attributes,
)
from kubelite.controlplane.auth.node_authorizer import NODE_RULES, NodeAuthorizer
from kubelite.controlplane.auth.rbac import (
    CLUSTER_ROLE_BINDINGS,
    CLUSTER_ROLES,
    ROLE_BINDINGS,
    ROLES,
    RBACAuthorizer,
    rule_allows,
)
from kubelite.controlplane.auth.rbac import aggregate as aggregate_roles
from kubelite.controlplane.auth.reviews import ReviewError, Reviews

Obj = dict[str, Any]
ALICE = UserInfo("alice", "", ("dev", "system:authenticated"))


@pytest.mark.parametrize(("method", "path", "query", "expected"), [
    pytest.param("GET", "/api/v1/namespaces/default/pods", {}, ("list", "", "default", "pods", "", ""), id="list"),
    pytest.param("GET", "/api/v1/namespaces/default/pods", {"watch": "true"},
                 ("watch", "", "default", "pods", "", ""), id="watch-param"),
    pytest.param("GET", "/api/v1/watch/namespaces/default/pods/p", {}, ("watch", "", "default", "pods", "", "p"),
                 id="legacy-watch"),
    pytest.param("POST", "/apis/apps/v1/namespaces/ns/deployments", {},
                 ("create", "apps", "ns", "deployments", "", ""), id="create"),
    pytest.param("PUT", "/apis/apps/v1/namespaces/ns/deployments/d/scale", {},
                 ("update", "apps", "ns", "deployments", "scale", "d"), id="subresource"),
    pytest.param("DELETE", "/api/v1/namespaces/ns/pods", {}, ("deletecollection", "", "ns", "pods", "", ""),
                 id="deletecollection"),
    pytest.param("GET", "/api/v1/namespaces/ns", {}, ("get", "", "ns", "namespaces", "", "ns"), id="namespace"),
    pytest.param("PUT", "/api/v1/namespaces/ns/finalize", {}, ("update", "", "ns", "namespaces", "finalize", "ns"),
                 id="namespace-finalize"),
    pytest.param("GET", "/api/v1/namespaces/ns/pods/p/exec", {}, ("create", "", "ns", "pods", "exec", "p"),
                 id="exec-upgrade"),
    pytest.param("GET", "/api/v1/nodes", {"fieldSelector": "metadata.name=n1"}, ("list", "", "", "nodes", "", "n1"),
                 id="field-selector-name"),
])
def test_request_attributes(method: str, path: str, query: dict[str, str],
                            expected: tuple[str, str, str, str, str, str]) -> None:
    a = request_attributes(ALICE, method, path, query)
    assert a.resource_request
    assert (a.verb, a.api_group, a.namespace, a.resource, a.subresource, a.name) == expected


def test_non_resource_requests() -> None:
    for path in ("/api", "/apis", "/api/v1", "/apis/apps/v1", "/openapi/v2", "/metrics"):
        a = request_attributes(ALICE, "GET", path, {})
        assert not a.resource_request and a.verb == "get" and a.path == path


def test_forbidden_messages_match_upstream() -> None:
    a = request_attributes(UserInfo("x"), "POST", "/api/v1/namespaces/default/pods", {})
    assert forbidden_message(a) == ('pods is forbidden: User "x" cannot create resource "pods" in API group "" '
                                    'in the namespace "default"')
    a = request_attributes(UserInfo("x"), "GET", "/apis/apps/v1/deployments/d", {})
    assert forbidden_message(a) == ('deployments.apps "d" is forbidden: User "x" cannot get resource "deployments" '
                                    'in API group "apps" at the cluster scope')
    a = request_attributes(UserInfo("x"), "GET", "/metrics", {})
    assert forbidden_message(a) == 'forbidden: User "x" cannot get path "/metrics"'
    a = request_attributes(UserInfo("x"), "GET", "/api/v1/namespaces/d/pods/p/log", {})
    assert forbidden_message(a, "why") == ('pods "p" is forbidden: User "x" cannot get resource "pods/log" in API '
                                           'group "" in the namespace "d": why')


def rbac_objects(bindings: list[Obj], roles: list[Obj] | None = None) -> dict[str, list[Obj]]:
    by_prefix: dict[str, list[Obj]] = {CLUSTER_ROLES: bootstrap_policy.cluster_role_objects(),
                                       CLUSTER_ROLE_BINDINGS: bootstrap_policy.cluster_role_binding_objects(),
                                       ROLES: roles or [], ROLE_BINDINGS: bindings}
    # aggregation, as the controller would have done it
    changes = aggregate_roles(by_prefix[CLUSTER_ROLES])
    while changes:
        for role in by_prefix[CLUSTER_ROLES]:
            if role["metadata"]["name"] in changes:
                role["rules"] = changes[role["metadata"]["name"]]
        changes = aggregate_roles(by_prefix[CLUSTER_ROLES])
    return by_prefix


def binding(namespace: str, role_kind: str, role: str, *subjects: Obj) -> Obj:
    return {"metadata": {"name": f"b-{role}", "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
            "subjects": list(subjects)}


def can(authorizer: Authorizers, user: UserInfo, method: str, path: str) -> bool:
    return authorizer.authorize(request_attributes(user, method, path, {}))[0] is Decision.ALLOW


def test_rbac_view_edit_admin_and_masters() -> None:
    objects = rbac_objects([
        binding("dev", "ClusterRole", "view", {"kind": "User", "name": "alice"}),
        binding("dev", "ClusterRole", "edit", {"kind": "Group", "name": "editors"}),
        binding("dev", "Role", "secret-reader", {"kind": "ServiceAccount", "name": "robot"}),
    ], roles=[{"metadata": {"name": "secret-reader", "namespace": "dev"},
               "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"],
                          "resourceNames": ["only-this"]}]}])
    authz = Authorizers([RBACAuthorizer(lambda prefix: objects[prefix])])
    assert can(authz, ALICE, "GET", "/api/v1/namespaces/dev/pods")
    assert can(authz, ALICE, "GET", "/apis/apps/v1/namespaces/dev/deployments/d")
    assert not can(authz, ALICE, "POST", "/api/v1/namespaces/dev/pods")
    assert not can(authz, ALICE, "GET", "/api/v1/namespaces/dev/secrets")
    assert not can(authz, ALICE, "GET", "/api/v1/namespaces/other/pods")
    assert can(authz, ALICE, "GET", "/api")  # system:discovery
    assert can(authz, ALICE, "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews")
    editor = UserInfo("bob", "", ("editors", "system:authenticated"))
    assert can(authz, editor, "POST", "/api/v1/namespaces/dev/pods")
    assert can(authz, editor, "GET", "/api/v1/namespaces/dev/secrets/s")
    assert not can(authz, editor, "POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/dev/rolebindings")
    robot = UserInfo("system:serviceaccount:dev:robot", "", ("system:serviceaccounts",))
    assert can(authz, robot, "GET", "/api/v1/namespaces/dev/secrets/only-this")
    assert not can(authz, robot, "GET", "/api/v1/namespaces/dev/secrets/another")
    assert not can(authz, robot, "GET", "/api/v1/namespaces/dev/secrets")
    root = UserInfo("root", "", ("system:masters",))
    assert can(authz, root, "DELETE", "/api/v1/nodes/n1")


def test_rbac_index_follows_invalidate() -> None:
    objects = rbac_objects([])
    rbac = RBACAuthorizer(lambda prefix: objects[prefix])
    authz = Authorizers([rbac])
    assert not can(authz, ALICE, "GET", "/api/v1/namespaces/dev/pods")
    objects[ROLE_BINDINGS] = [binding("dev", "ClusterRole", "view", {"kind": "User", "name": "alice"})]
    assert not can(authz, ALICE, "GET", "/api/v1/namespaces/dev/pods")  # index not rebuilt yet
    rbac.invalidate()
    assert can(authz, ALICE, "GET", "/api/v1/namespaces/dev/pods")


def test_aggregation_picks_up_labelled_roles() -> None:
    roles = bootstrap_policy.cluster_role_objects()
    roles.append({"metadata": {"name": "crd-view", "labels": {
        "rbac.authorization.k8s.io/aggregate-to-view": "true"}},
        "rules": [{"verbs": ["get"], "apiGroups": ["example.com"], "resources": ["widgets"]}]})
    changes = aggregate_roles(roles)
    assert {"verbs": ["get"], "apiGroups": ["example.com"], "resources": ["widgets"]} in changes["view"]
    assert "cluster-admin" not in changes


def pod(name: str, node: str, **spec: Any) -> Obj:
    return {"metadata": {"name": name, "namespace": "default", "uid": name}, "spec": {"nodeName": node, **spec}}


def test_node_authorizer_graph() -> None:
    pods = [pod("a", "n1", volumes=[{"name": "v", "secret": {"secretName": "s1"}}],
                containers=[{"name": "c", "envFrom": [{"configMapRef": {"name": "cm1"}}]}]),
            pod("b", "n2", volumes=[{"name": "v", "secret": {"secretName": "s2"}}])]
    node = NodeAuthorizer(lambda prefix, key_prefix: [p for p in pods if prefix == "/core/pods/"])
    authz = Authorizers([node, RBACAuthorizer(lambda prefix: rbac_objects([])[prefix])])
    n1 = UserInfo("system:node:n1", "", ("system:nodes", "system:authenticated"))
    assert can(authz, n1, "GET", "/api/v1/namespaces/default/secrets/s1")
    assert can(authz, n1, "GET", "/api/v1/namespaces/default/configmaps/cm1")
    decision, reason = authz.authorize(request_attributes(n1, "GET", "/api/v1/namespaces/default/secrets/s2", {}))
    assert decision is not Decision.ALLOW and "no relationship found between node 'n1'" in reason
    assert not can(authz, n1, "GET", "/api/v1/namespaces/default/secrets")
    assert can(authz, n1, "PATCH", "/api/v1/nodes/n1/status")
    assert not can(authz, n1, "PATCH", "/api/v1/nodes/n2/status")
    assert can(authz, n1, "PUT", "/api/v1/namespaces/default/pods/a/status")
    assert not can(authz, n1, "PUT", "/api/v1/namespaces/default/pods/b/status")
    assert can(authz, n1, "DELETE", "/api/v1/namespaces/default/pods/a")
    assert not can(authz, n1, "DELETE", "/api/v1/namespaces/default/pods/b")
    # a pod that is gone: the request goes through to the handler's 404, as upstream (not a 403 forever)
    assert can(authz, n1, "DELETE", "/api/v1/namespaces/default/pods/gone")
    assert can(authz, n1, "PUT", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1")
    assert not can(authz, n1, "PUT", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n2")
    assert not can(authz, n1, "DELETE", "/api/v1/namespaces/default/services/x")
    # the agent's proxy and network policy controller read with the node's identity
    assert can(authz, n1, "GET", "/apis/discovery.k8s.io/v1/endpointslices")
    assert can(authz, n1, "GET", "/apis/networking.k8s.io/v1/networkpolicies")
    assert not can(authz, n1, "POST", "/apis/networking.k8s.io/v1/namespaces/default/networkpolicies")


async def test_reviews() -> None:
    objects = rbac_objects([binding("dev", "ClusterRole", "view", {"kind": "User", "name": "alice"})])
    authz = Authorizers([RBACAuthorizer(lambda prefix: objects[prefix])])
    reviews = Reviews(authenticator=Authenticator(), authorizer=authz)
    me = await reviews.review(group="authentication.k8s.io", resource="selfsubjectreviews", namespace=None,
                              body={}, user=ALICE)
    assert me["status"]["userInfo"]["username"] == "alice"
    ssar = await reviews.review(group="authorization.k8s.io", resource="selfsubjectaccessreviews", namespace=None,
                                body={"spec": {"resourceAttributes": {"verb": "list", "resource": "pods",
                                                                      "namespace": "dev"}}}, user=ALICE)
    assert ssar["status"]["allowed"] is True
    sar = await reviews.review(group="authorization.k8s.io", resource="subjectaccessreviews", namespace=None,
                               body={"spec": {"user": "alice", "resourceAttributes": {
                                   "verb": "create", "resource": "pods", "namespace": "dev"}}}, user=ALICE)
    assert sar["status"]["allowed"] is False
    rules = await reviews.review(group="authorization.k8s.io", resource="selfsubjectrulesreviews", namespace=None,
                                 body={"spec": {"namespace": "dev"}}, user=ALICE)
    assert any("pods" in r["resources"] for r in rules["status"]["resourceRules"])
    with pytest.raises(ReviewError, match="exactly one"):
        await reviews.review(group="authorization.k8s.io", resource="selfsubjectaccessreviews", namespace=None,
                             body={"spec": {}}, user=ALICE)
    with pytest.raises(ReviewError, match="at least one of user or group"):
        await reviews.review(group="authorization.k8s.io", resource="subjectaccessreviews", namespace=None,
                             body={"spec": {"resourceAttributes": {"verb": "get"}}}, user=ALICE)


def csr_object(cn: str, orgs: list[str], username: str, groups: list[str], *,
               signer: str = "kubernetes.io/kube-apiserver-client-kubelet",
               usages: tuple[str, ...] = ("digital signature", "client auth")) -> Obj:
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
    request = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([*names, x509.NameAttribute(NameOID.COMMON_NAME, cn)])).sign(key, hashes.SHA256())
    pem = request.public_bytes(serialization.Encoding.PEM)
    return {"metadata": {"name": "c"}, "spec": {"request": base64.b64encode(pem).decode(), "signerName": signer,
                                                "usages": list(usages), "username": username, "groups": groups}}


def test_csr_auto_approval_policy() -> None:
    authz = Authorizers([RBACAuthorizer(lambda prefix: rbac_objects([])[prefix])])
    bootstrapper = ["system:bootstrappers", "system:authenticated"]
    assert csr.approval_for(csr_object("system:node:n1", ["system:nodes"], "system:bootstrap:abcdef", bootstrapper),
                            authz)
    # a node renewing its own certificate
    assert csr.approval_for(csr_object("system:node:n1", ["system:nodes"], "system:node:n1",
                                       ["system:nodes", "system:authenticated"]), authz)
    # not from a bootstrapper, wrong subject, or wrong usages: left for a human
    assert not csr.approval_for(csr_object("system:node:n1", ["system:nodes"], "alice", ["system:authenticated"]),
                                authz)
    assert not csr.approval_for(csr_object("system:node:n1", ["system:masters"], "system:bootstrap:abcdef",
                                           bootstrapper), authz)
    assert not csr.approval_for(csr_object("system:node:n1", ["system:nodes"], "system:bootstrap:abcdef",
                                           bootstrapper, usages=("server auth",)), authz)
    assert not csr.approval_for(csr_object("system:node:n1", ["system:nodes"], "system:bootstrap:abcdef",
                                           bootstrapper, signer="kubernetes.io/kube-apiserver-client"), authz)


def test_set_requester_overrides_the_body() -> None:
    body: Obj = {"spec": {"username": "system:admin", "groups": ["system:masters"]}}
    csr.set_requester(body, UserInfo("system:bootstrap:abcdef", "", ("system:bootstrappers",)))
    assert body["spec"]["username"] == "system:bootstrap:abcdef"
    assert body["spec"]["groups"] == ["system:bootstrappers"]


def test_every_default_role_is_well_formed() -> None:
    roles = {r["metadata"]["name"] for r in bootstrap_policy.cluster_role_objects()}
    for b in bootstrap_policy.cluster_role_binding_objects():
        assert b["roleRef"]["name"] in roles
    for name in ("cluster-admin", "admin", "edit", "view", "system:basic-user", "system:discovery",
                 "system:public-info-viewer", "system:node", "system:kube-scheduler",
                 "system:kube-controller-manager", "system:node-proxier"):
        assert name in roles


def test_impersonation_needs_the_impersonate_verb() -> None:
    from kubelite.controlplane.auth.impersonation import ImpersonationForbidden, impersonate

    objects = rbac_objects([])
    objects[CLUSTER_ROLES].append({"metadata": {"name": "sudo"}, "rules": [
        {"verbs": ["impersonate"], "apiGroups": [""], "resources": ["users", "groups"]}]})
    objects[CLUSTER_ROLE_BINDINGS].append(binding("", "ClusterRole", "sudo", {"kind": "User", "name": "alice"}))
    authz = Authorizers([RBACAuthorizer(lambda prefix: objects[prefix])])
    user = impersonate(user=ALICE, headers={"Impersonate-User": "bob"}, group_values=["devs"], authorizer=authz)
    assert user == UserInfo("bob", "", ("devs", "system:authenticated"))
    with pytest.raises(ImpersonationForbidden, match='cannot impersonate resource "serviceaccounts"'):
        impersonate(user=ALICE, headers={"Impersonate-User": "system:serviceaccount:ns:sa"}, group_values=[],
                    authorizer=authz)
    with pytest.raises(ImpersonationForbidden, match='users "root" is forbidden'):
        impersonate(user=UserInfo("eve", "", ("system:authenticated",)), headers={"Impersonate-User": "root"},
                    group_values=[], authorizer=authz)


def _request_attributes_as_written_first(user: UserInfo, method: str, path: str,
                                         query: dict[str, str]) -> Attributes:
    """request_attributes before its fast split and verb table: the reference the fast one must equal."""
    parts = [p for p in path.split("/") if p]
    method = method.upper()
    if len(parts) >= 2 and parts[0] == "api":
        group, rest = "", parts[1:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, rest = parts[1], parts[2:]
    else:
        return Attributes(user, method.lower(), False, path=path)
    version, rest = rest[0], rest[1:]
    if not rest:
        return Attributes(user, method.lower(), False, path=path)
    verb = {"POST": "create", "GET": "get", "HEAD": "get", "PUT": "update", "PATCH": "patch",
            "DELETE": "delete"}.get(method, method.lower())
    if rest[0] == "watch":
        verb, rest = "watch", rest[1:]
    namespace = ""
    if rest and rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in ("status", "finalize"):
            rest = rest[2:]
    resource = rest[0] if rest else ""
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    if not name:
        if verb == "get":
            verb = "watch" if query.get("watch", "").lower() in ("true", "1") else "list"
        elif verb == "delete":
            verb = "deletecollection"
    elif verb == "watch":
        pass
    elif verb == "get" and query.get("watch", "").lower() in ("true", "1"):
        verb = "watch"
    if verb == "get" and subresource in ("exec", "attach", "portforward"):
        verb = "create"
    if verb in ("list", "watch") and not name:
        for term in query.get("fieldSelector", "").split(","):
            key, op, value = term.partition("=")
            if op and key.strip() == "metadata.name" and not value.startswith("="):
                name = value.strip()
    return Attributes(user, verb, True, path=path, api_group=group, api_version=version, namespace=namespace,
                      resource=resource, subresource=subresource, name=name)


_SEGMENTS = st.sampled_from(["", "api", "apis", "v1", "apps", "namespaces", "ns", "pods", "p", "watch", "status",
                             "finalize", "exec", "binding", "scale", "log"])


@settings(max_examples=500, deadline=None)
@given(method=st.sampled_from(["GET", "get", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "Post"]),
       segments=st.lists(_SEGMENTS, max_size=8), leading=st.booleans(), trailing=st.booleans(),
       query=st.dictionaries(st.sampled_from(["watch", "fieldSelector"]),
                             st.sampled_from(["", "true", "1", "False", "metadata.name=n", "metadata.name==n",
                                              "a=b,metadata.name= m "]), max_size=2))
def test_request_attributes_equal_the_first_written_ones(method: str, segments: list[str], leading: bool,
                                                         trailing: bool, query: dict[str, str]) -> None:
    path = ("/" if leading else "") + "/".join(segments) + ("/" if trailing else "")
    assert request_attributes(ALICE, method, path, query) == _request_attributes_as_written_first(
        ALICE, method, path, query)


def test_attributes_stay_a_frozen_dataclass() -> None:
    a = Attributes(ALICE, "get", True, api_version="v1", resource="pods")
    assert a == Attributes(user=ALICE, verb="get", resource_request=True, path="", api_group="", api_version="v1",
                           namespace="", resource="pods", subresource="", name="")
    assert hash(a) == hash(Attributes(ALICE, "get", True, api_version="v1", resource="pods"))
    assert dataclasses.replace(a, name="p").name == "p" and a.name == ""
    assert [f.name for f in dataclasses.fields(a)] == ["user", "verb", "resource_request", "path", "api_group",
                                                        "api_version", "namespace", "resource", "subresource",
                                                        "name"]
    assert repr(a).startswith("Attributes(user=UserInfo(name='alice'")
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.verb = "list"  # type: ignore[misc]


_VERB_LISTS = st.lists(st.sampled_from(["get", "list", "create", "update", "*"]), min_size=1, max_size=2)
_RULES = st.lists(st.one_of(
    st.fixed_dictionaries({"verbs": _VERB_LISTS,
                           "apiGroups": st.lists(st.sampled_from(["", "apps", "*"]), min_size=1, max_size=2),
                           "resources": st.lists(st.sampled_from(["pods", "pods/status", "pods/*", "*/scale",
                                                                   "deployments", "*"]), min_size=1, max_size=2)},
                          optional={"resourceNames": st.lists(st.sampled_from(["a", "b"]), max_size=2)}),
    st.fixed_dictionaries({"verbs": _VERB_LISTS,
                           "nonResourceURLs": st.lists(st.sampled_from(["/healthz", "/api*", "*"]), min_size=1,
                                                       max_size=2)})), max_size=4)
_REQUESTS = st.tuples(
    st.sampled_from([ALICE, UserInfo("bob", "", ("editors",)), UserInfo("carol")]),
    st.sampled_from(["GET", "POST", "PUT"]),
    st.sampled_from(["/api/v1/namespaces/dev/pods", "/api/v1/namespaces/dev/pods/a", "/api/v1/namespaces/dev/pods/b",
                     "/api/v1/namespaces/other/pods/a/status", "/apis/apps/v1/namespaces/dev/deployments/a/scale",
                     "/api/v1/nodes/a", "/healthz", "/api", "/apis/apps/v1/namespaces/dev/deployments"]))


def _rbac_objects_granting(rule_sets: list[list[Obj]]) -> dict[str, list[Obj]]:
    """ClusterRoles r0, r1, ... with these rules, bound cluster-wide to alice, in dev to group editors."""
    roles = [{"metadata": {"name": f"r{i}"}, "rules": rules} for i, rules in enumerate(rule_sets)]
    cluster_bindings = [{"metadata": {"name": f"r{i}"}, "roleRef": {"kind": "ClusterRole", "name": f"r{i}"},
                         "subjects": [{"kind": "User", "name": "alice"}]} for i in range(0, len(roles), 2)]
    bindings = [binding("dev", "ClusterRole", f"r{i}", {"kind": "Group", "name": "editors"})
                for i in range(1, len(roles), 2)]
    return {CLUSTER_ROLES: roles, CLUSTER_ROLE_BINDINGS: cluster_bindings, ROLES: [], ROLE_BINDINGS: bindings}


@settings(max_examples=300, deadline=None)
@given(steps=st.lists(st.one_of(_REQUESTS, st.lists(_RULES, max_size=4)), max_size=25))
def test_remembered_rbac_grants_answer_as_the_rules_do_across_changes(steps: list[Any]) -> None:
    objects = _rbac_objects_granting([])
    rbac = RBACAuthorizer(lambda prefix: objects[prefix])
    for step in steps:
        if isinstance(step, list):  # an RBAC change, which the watch on RBAC objects reports
            objects = _rbac_objects_granting(step)
            rbac.invalidate()
            continue
        user, method, path = step
        attributes = request_attributes(user, method, path, {})
        index = RBACAuthorizer(lambda prefix, current=objects: current[prefix])
        expected = any(rule_allows(rule, attributes) for rule in index._rules(user, attributes.namespace))
        assert (rbac.authorize(attributes)[0] is Decision.ALLOW) is expected


def test_node_rules_grant_as_the_rules_do() -> None:
    node = NodeAuthorizer(lambda prefix, key_prefix: [])
    n1 = UserInfo("system:node:n1", "", ("system:nodes",))
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        for path in ("/api/v1/nodes/n1", "/api/v1/namespaces/default/events",
                     "/apis/discovery.k8s.io/v1/endpointslices", "/api/v1/namespaces/default/pods",
                     "/apis/storage.k8s.io/v1/csinodes/n1", "/api/v1/namespaces/default/pods/p/status",
                     "/apis/certificates.k8s.io/v1/certificatesigningrequests", "/api/v1/namespaces/x/services"):
            attributes = request_attributes(n1, method, path, {})
            for _ in range(2):  # the second answer comes from the remembered grant
                allowed = node.authorize(attributes)[0] is Decision.ALLOW
                assert allowed is any(rule_allows(r, attributes) for r in NODE_RULES), (method, path)


@pytest.mark.parametrize("path", ["/api/v1/namespaces/default/pods/a/status", "/api/v1/namespaces/default/pods/b",
                                  "/api/v1/namespaces/default/pods/gone/status", "/api/v1/namespaces/other/pods/a",
                                  "/api/v1/namespaces/default/pods/a", "/api/v1/pods/a/status"])
@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_node_authorizer_finds_a_pod_by_its_key_as_in_its_namespace_list(method: str, path: str) -> None:
    pods = {f"/core/pods/default/{p['metadata']['name']}": p for p in (pod("a", "n1"), pod("b", "n2"))}

    def list_objects(prefix: str, key_prefix: str) -> list[Obj]:
        return [p for key, p in sorted(pods.items()) if key.startswith(key_prefix)]

    by_list = NodeAuthorizer(list_objects)
    by_key = NodeAuthorizer(list_objects, lambda prefix, key: pods.get(key) if prefix == "/core/pods/" else None)
    n1 = UserInfo("system:node:n1", "", ("system:nodes", "system:authenticated"))
    attributes = request_attributes(n1, method, path, {})
    assert by_key.authorize(attributes) == by_list.authorize(attributes)
