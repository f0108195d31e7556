"""Discovery documents: /api, /apis, /apis/<group>, /<...>/<version>, and aggregated discovery (v2).

kubectl 1.32 first asks for aggregated discovery (``as=APIGroupDiscoveryList``) and falls back to the
legacy documents; both are served, built from the same ``ResourceTable``.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from kubelite.controlplane.apiserver.resources import ResourceInfo, ResourceTable

Obj = dict[str, Any]

AGGREGATED_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
AGGREGATED_V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"


def storage_version_hash(info: ResourceInfo) -> str:
    """A stable short hash of the storage version, as upstream publishes (used by migrators)."""
    digest = hashlib.sha256(f"{info.group}/{info.version}/{info.kind}".encode()).digest()
    return base64.b64encode(digest[:8]).decode()


def api_versions(server_address: str) -> Obj:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}


def _group_entry(table: ResourceTable, group: str) -> Obj:
    versions = [{"groupVersion": f"{group}/{v}", "version": v} for v in table.versions(group)]
    return {"name": group, "versions": versions, "preferredVersion": versions[0]}


def api_group_list(table: ResourceTable) -> Obj:
    return {"kind": "APIGroupList", "apiVersion": "v1",
            "groups": [_group_entry(table, g) for g in table.groups()]}


def api_group(table: ResourceTable, group: str) -> Obj | None:
    if not table.versions(group) or not group:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_entry(table, group)}


def api_resource_list(table: ResourceTable, group: str, version: str) -> Obj | None:
    infos = table.in_group_version(group, version)
    if not infos:
        return None
    resources: list[Obj] = []
    for info in sorted(infos, key=lambda i: i.plural):
        entry: Obj = {"name": info.plural, "singularName": info.singular, "namespaced": info.namespaced,
                      "kind": info.kind, "verbs": list(info.verbs),
                      "storageVersionHash": storage_version_hash(info)}
        if info.short_names:
            entry["shortNames"] = list(info.short_names)
        if info.categories:
            entry["categories"] = list(info.categories)
        resources.append(entry)
        for sub in info.subresources:
            sub_entry: Obj = {"name": f"{info.plural}/{sub.name}", "singularName": "",
                              "namespaced": info.namespaced, "kind": sub.kind or info.kind,
                              "verbs": list(sub.verbs)}
            if sub.group or sub.version:
                sub_entry["group"], sub_entry["version"] = sub.group, sub.version
            resources.append(sub_entry)
    return {"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version, "resources": resources}


def _aggregated_resource(info: ResourceInfo) -> Obj:
    entry: Obj = {"resource": info.plural,
                  "responseKind": {"group": info.group, "version": info.version, "kind": info.kind},
                  "scope": "Namespaced" if info.namespaced else "Cluster",
                  "singularResource": info.singular, "verbs": list(info.verbs)}
    if info.short_names:
        entry["shortNames"] = list(info.short_names)
    if info.categories:
        entry["categories"] = list(info.categories)
    if info.subresources:
        entry["subresources"] = [
            {"subresource": sub.name,
             "responseKind": {"group": sub.group if sub.kind else info.group,
                              "version": sub.version if sub.kind and sub.version else info.version,
                              "kind": sub.kind or info.kind},
             "verbs": list(sub.verbs)}
            for sub in info.subresources]
    return entry


def _aggregated_group(table: ResourceTable, group: str) -> Obj:
    versions = []
    for version in table.versions(group):
        infos = sorted(table.in_group_version(group, version), key=lambda i: i.plural)
        versions.append({"version": version, "resources": [_aggregated_resource(i) for i in infos],
                         "freshness": "Current"})
    return {"metadata": {"name": group} if group else {"creationTimestamp": None}, "versions": versions}


def aggregated(table: ResourceTable, *, legacy: bool, media_version: str = "v2") -> Obj:
    """APIGroupDiscoveryList for /api (legacy=True: the core group) or /apis (every named group)."""
    groups = [""] if legacy else table.groups()
    return {"kind": "APIGroupDiscoveryList", "apiVersion": f"apidiscovery.k8s.io/{media_version}",
            "metadata": {}, "items": [_aggregated_group(table, g) for g in groups]}
