"""Static pod manifests: parsing, bad input, and the mirror pod built from one."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubelite.agent.kubelet.static_pods import ManifestError, mirror_pod, parse_manifest

MANIFEST = """apiVersion: v1
kind: Pod
metadata:
  name: web
  uid: ignored
spec:
  containers: [{name: c, image: img:1}]
"""


def test_mirror_pod_is_named_bound_owned_and_hashed() -> None:
    manifest = parse_manifest(Path("web.yaml"), MANIFEST)
    pod = mirror_pod(manifest, node="n1", node_uid="node-uid", text=MANIFEST)
    md = pod["metadata"]
    assert md["name"] == "web-n1" and md["namespace"] == "default" and "uid" not in md
    assert pod["spec"]["nodeName"] == "n1"
    assert md["annotations"]["kubernetes.io/config.source"] == "file"
    assert md["annotations"]["kubernetes.io/config.mirror"] == md["annotations"]["kubernetes.io/config.hash"]
    assert md["ownerReferences"] == [{"apiVersion": "v1", "kind": "Node", "name": "n1", "uid": "node-uid",
                                      "controller": True}]
    changed = mirror_pod(manifest, node="n1", node_uid="node-uid", text=MANIFEST + "# edited\n")
    assert changed["metadata"]["annotations"]["kubernetes.io/config.hash"] != md["annotations"][
        "kubernetes.io/config.hash"]


@pytest.mark.parametrize(("name", "text", "message"), [
    pytest.param("a.yaml", "kind: [", "not valid YAML", id="yaml"),
    pytest.param("a.json", "{", "not valid JSON", id="json"),
    pytest.param("a.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: x}\n", "one v1 Pod", id="kind"),
    pytest.param("a.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {}\n", "metadata.name is required", id="name"),
])
def test_bad_manifests(name: str, text: str, message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        parse_manifest(Path(name), text)
