"""User impersonation: ``Impersonate-User``/``-Group``/``-Uid``/``-Extra-*`` headers (``kubectl --as``).

Design
------
Upstream's impersonation filter, after authentication and before authorization: each requested
identity part needs the ``impersonate`` verb on ``users``, ``groups``, ``serviceaccounts`` (a
``system:serviceaccount:<ns>:<name>`` user), ``uids`` or ``userextras/<key>`` in
``authentication.k8s.io`` (core group for users/groups/serviceaccounts, as upstream). The request then
runs as the impersonated user, who is ``system:authenticated`` (or a service account's groups when no
group is named). Refusal is a 403 naming what could not be impersonated.
"""

from __future__ import annotations

from collections.abc import Mapping

from kubelite.controlplane.auth.authentication import AUTHENTICATED, UserInfo
from kubelite.controlplane.auth.authorization import Attributes, Authorizers, Decision
from kubelite.controlplane.auth.serviceaccount_token import SA_PREFIX, service_account_groups

USER = "Impersonate-User"
GROUP = "Impersonate-Group"
UID = "Impersonate-Uid"
EXTRA = "Impersonate-Extra-"


class ImpersonationForbidden(Exception):
    """403: the caller may not impersonate what it asked for; the message is upstream's."""

    def __init__(self, attributes: Attributes) -> None:
        target = attributes.name
        super().__init__(f'{attributes.resource}{"." + attributes.api_group if attributes.api_group else ""} '
                         f'"{target}" is forbidden: User "{attributes.user.name}" cannot impersonate resource '
                         f'"{attributes.resource}" in API group "{attributes.api_group}"'
                         + (f' in the namespace "{attributes.namespace}"' if attributes.namespace else
                            " at the cluster scope"))
        self.attributes = attributes


def wants_impersonation(headers: Mapping[str, str]) -> bool:
    return any(k.lower().startswith("impersonate-") for k in headers)


def impersonate(*, user: UserInfo, headers: Mapping[str, str], group_values: list[str],
                authorizer: Authorizers) -> UserInfo:
    """The identity the request runs as. ``group_values`` are all Impersonate-Group header values."""
    name = headers.get(USER, "")
    if not name:
        raise ValueError("requested impersonation without Impersonate-User")

    def check(resource: str, target: str, *, group: str = "", namespace: str = "", subresource: str = "") -> None:
        attributes = Attributes(user, "impersonate", True, api_group=group, namespace=namespace, resource=resource,
                                subresource=subresource, name=target)
        if authorizer.authorize(attributes)[0] is not Decision.ALLOW:
            raise ImpersonationForbidden(attributes)

    groups: list[str] = []
    if name.startswith(SA_PREFIX) and name.count(":") == 3:
        namespace, _, sa = name[len(SA_PREFIX):].partition(":")
        check("serviceaccounts", sa, namespace=namespace)
        if not group_values:
            groups.extend(service_account_groups(namespace))
    else:
        check("users", name)
    for group in group_values:
        check("groups", group)
        groups.append(group)
    uid = headers.get(UID, "")
    if uid:
        check("uids", uid, group="authentication.k8s.io")
    extra: dict[str, tuple[str, ...]] = {}
    for key, value in headers.items():
        if key.lower().startswith(EXTRA.lower()):
            extra_key = key[len(EXTRA):].lower()
            check("userextras", value, group="authentication.k8s.io", subresource=extra_key)
            extra[extra_key] = (*extra.get(extra_key, ()), value)
    if AUTHENTICATED not in groups and name != "system:anonymous":
        groups.append(AUTHENTICATED)
    return UserInfo(name, uid, tuple(groups), extra)
