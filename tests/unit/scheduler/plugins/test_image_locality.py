"""ImageLocality: upstream's scaled image scores, name normalization, and the snapshot's counts."""

from __future__ import annotations

from array import array

from scheduler_builders import make_node, make_pod

from kubelite.controlplane.scheduler.framework import CycleState
from kubelite.controlplane.scheduler.plugins import image_locality
from kubelite.controlplane.scheduler.plugins.image_locality import MB, calculate_priority, normalized_image_name
from kubelite.controlplane.scheduler.snapshot import Snapshot
from kubelite.native.scoring import KERNEL


def test_names_without_tag_or_digest_mean_latest() -> None:
    assert normalized_image_name("busybox") == "busybox:latest"
    assert normalized_image_name("registry:5000/app") == "registry:5000/app:latest"
    assert normalized_image_name("busybox:1.36") == "busybox:1.36"
    assert normalized_image_name("busybox@sha256:abc") == "busybox@sha256:abc"


def test_priority_clamps_between_23_mib_and_1000_mib_per_container() -> None:
    assert calculate_priority(0, 1) == 0
    assert calculate_priority(23 * MB, 1) == 0
    assert calculate_priority(1000 * MB, 1) == 100
    assert calculate_priority(5000 * MB, 1) == 100
    assert calculate_priority(500 * MB, 2) == (100 * (500 - 23)) // (2000 - 23)


def node_with(name: str, *images: tuple[str, int]) -> dict[str, object]:
    node = make_node(name).obj()
    node["status"]["images"] = [{"names": [image], "sizeBytes": size} for image, size in images]  # type: ignore[index]
    return node


def test_batch_and_per_node_scores_follow_upstream_spread() -> None:
    from kubelite.controlplane.scheduler.nodeinfo import NodeInfo

    infos = [NodeInfo.build(node=node_with("big", ("app:1", 900 * MB))),
             NodeInfo.build(node=node_with("small", ("app:1", 900 * MB), ("side:latest", 30 * MB))),
             NodeInfo.build(node=node_with("none"))]
    snapshot = Snapshot.from_infos(infos)
    assert snapshot.image_nodes["app:1"] == 2
    plugin = image_locality.new({})
    pod = make_pod().obj()
    pod["spec"]["containers"] = [{"name": "a", "image": "app:1"}, {"name": "b", "image": "side"}]
    state = CycleState()
    plugin.pre_score(state=state, pod=pod, nodes=infos)
    batch = plugin.score_batch(state=state, pod=pod, snapshot=snapshot, idx=array("q", [0, 1, 2]), count=3,
                               kernel=KERNEL)
    assert batch is not None
    app = int(900 * MB * (2 / 3))
    side = int(30 * MB * (1 / 3))
    assert batch.tolist() == [calculate_priority(app, 2), calculate_priority(app + side, 2), 0]
    per_node, status = plugin.score(state=state, pod=pod, nodes=infos)
    assert status is None and per_node == batch.tolist()


def test_snapshot_image_counts_follow_node_changes() -> None:
    from kubelite.controlplane.scheduler.nodeinfo import NodeInfo

    snapshot = Snapshot.from_infos([NodeInfo.build(node=node_with("a", ("x:1", MB))),
                                    NodeInfo.build(node=node_with("b", ("x:1", MB)))])
    assert snapshot.image_nodes["x:1"] == 2
    snapshot.remove("a")
    assert snapshot.image_nodes["x:1"] == 1
    info = snapshot.get("b")
    assert info is not None
    info.set_node(node_with("b"))
    snapshot.refresh_node("b")
    assert snapshot.image_nodes["x:1"] == 0


def test_no_node_holding_the_images_scores_zero_without_a_loop() -> None:
    snapshot = Snapshot.from_infos([make_node("a").info()])
    plugin = image_locality.new({})
    state = CycleState()
    pod = make_pod().container().obj()
    plugin.pre_score(state=state, pod=pod, nodes=list(snapshot))
    out = plugin.score_batch(state=state, pod=pod, snapshot=snapshot, idx=array("q", [0]), count=1, kernel=KERNEL)
    assert out is not None and out.tolist() == [0]
