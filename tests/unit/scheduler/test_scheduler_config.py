"""KubeSchedulerConfiguration: profiles merged onto the defaults, weights, args; bad input named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kubelite.controlplane.scheduler.config import SchedulerConfigError, load_config, parse_config
from kubelite.controlplane.scheduler.framework import ExtensionPoint, Framework
from kubelite.controlplane.scheduler.plugins import in_tree_registry

V1 = {"apiVersion": "kubescheduler.config.k8s.io/v1", "kind": "KubeSchedulerConfiguration"}


def config(**fields: Any) -> dict[str, Any]:
    return {**V1, **fields}


def test_an_empty_configuration_is_the_default_profile() -> None:
    parsed = parse_config(config())
    assert [p.scheduler_name for p in parsed.profiles] == ["default-scheduler"]
    assert parsed.percentage_of_nodes_to_score == 0
    assert (parsed.initial_backoff, parsed.max_backoff) == (1.0, 10.0)
    profile = parsed.profiles[0]
    assert profile.plugins[ExtensionPoint.BIND] == ["DefaultBinder"]
    assert profile.score_weights["TaintToleration"] == 3


def test_profiles_disable_enable_weights_and_args() -> None:
    parsed = parse_config(config(
        percentageOfNodesToScore=30, podInitialBackoffSeconds=2, podMaxBackoffSeconds=20,
        profiles=[
            {"schedulerName": "default-scheduler"},
            {"schedulerName": "packer",
             "percentageOfNodesToScore": 100,
             "plugins": {"score": {"disabled": [{"name": "NodeResourcesBalancedAllocation"}],
                                   "enabled": [{"name": "NodeResourcesFit", "weight": 5}]}},
             "pluginConfig": [{"name": "NodeResourcesFit",
                               "args": {"apiVersion": "kubescheduler.config.k8s.io/v1", "kind": "NodeResourcesFitArgs",
                                        "scoringStrategy": {"type": "MostAllocated",
                                                            "resources": [{"name": "cpu", "weight": 1}]}}}]},
        ]))
    assert (parsed.percentage_of_nodes_to_score, parsed.initial_backoff, parsed.max_backoff) == (30, 2.0, 20.0)
    packer = parsed.profiles[1]
    assert packer.scheduler_name == "packer" and packer.percentage_of_nodes_to_score == 100
    assert "NodeResourcesBalancedAllocation" not in packer.plugins[ExtensionPoint.SCORE]
    # enabling a default plugin keeps its place and takes the new weight (upstream mergePlugins)
    assert packer.plugins[ExtensionPoint.SCORE].count("NodeResourcesFit") == 1
    assert packer.score_weights["NodeResourcesFit"] == 5
    assert packer.plugin_args["NodeResourcesFit"] == {"scoringStrategy": {"type": "MostAllocated",
                                                                          "resources": [{"name": "cpu", "weight": 1}]}}
    Framework(profile=packer, registry=in_tree_registry())


def test_disable_star_and_multipoint() -> None:
    parsed = parse_config(config(profiles=[{"plugins": {
        "multiPoint": {"disabled": [{"name": "*"}],
                       "enabled": [{"name": "NodeResourcesFit", "weight": 2}, {"name": "DefaultBinder"}]},
    }}]))
    profile = parsed.profiles[0]
    assert profile.plugins[ExtensionPoint.FILTER] == ["NodeResourcesFit"]
    assert profile.plugins[ExtensionPoint.PRE_FILTER] == ["NodeResourcesFit"]
    assert profile.plugins[ExtensionPoint.SCORE] == ["NodeResourcesFit"]
    assert profile.plugins[ExtensionPoint.BIND] == ["DefaultBinder"]
    assert profile.score_weights == {"NodeResourcesFit": 2}


@pytest.mark.parametrize(("document", "message"), [
    pytest.param({"kind": "KubeSchedulerConfiguration"}, "apiVersion: unsupported value None", id="no-apiVersion"),
    pytest.param({**V1, "apiVersion": "kubescheduler.config.k8s.io/v1beta3"}, "apiVersion: unsupported value",
                 id="old-apiVersion"),
    pytest.param(config(frobnicate=1), "unknown field(s) frobnicate", id="unknown-field"),
    pytest.param(config(percentageOfNodesToScore=101), "percentageOfNodesToScore: must be an integer between 0 and 100",
                 id="percentage"),
    pytest.param(config(podInitialBackoffSeconds=5, podMaxBackoffSeconds=1), "podMaxBackoffSeconds: must be at least",
                 id="backoff"),
    pytest.param(config(profiles=[]), "profiles: must be a non-empty list", id="no-profiles"),
    pytest.param(config(profiles=[{"schedulerName": "a"}, {"schedulerName": "a"}]),
                 "profiles[1].schedulerName: Duplicate value: 'a'", id="duplicate-profile"),
    pytest.param(config(profiles=[{"plugins": {"filter": {"enabled": [{"name": "NoSuchPlugin"}]}}}]),
                 "profiles[0].plugins.filter.enabled[0]: unknown plugin 'NoSuchPlugin'", id="unknown-plugin"),
    pytest.param(config(profiles=[{"plugins": {"bind": {"enabled": [{"name": "NodeResourcesFit"}]}}}]),
                 "does not implement the bind extension point", id="wrong-point"),
    pytest.param(config(profiles=[{"plugins": {"score": {"enabled": [{"name": "NodeAffinity", "weight": 0}]}}}]),
                 "profiles[0].plugins.score.enabled[0].weight: must be an integer at least 1", id="weight"),
    pytest.param(config(profiles=[{"pluginConfig": [{"name": "NodeResourcesFit",
                                                     "args": {"scoringStrategy": {"type": "Spread"}}}]}]),
                 "scoringStrategy.type: unsupported value 'Spread'", id="bad-args"),
    pytest.param(config(profiles=[{"plugins": {"sorting": {}}}]), "unknown extension point 'sorting'",
                 id="unknown-point"),
    pytest.param(["not", "a", "mapping"], "must be a KubeSchedulerConfiguration object", id="not-an-object"),
])
def test_bad_configuration_is_refused_with_the_field_named(document: Any, message: str) -> None:
    with pytest.raises(SchedulerConfigError) as caught:
        parse_config(document, source="sched.yaml")
    assert str(caught.value).startswith("sched.yaml: ")
    assert message in str(caught.value)


def test_load_config_reads_yaml_and_reports_unreadable_files(tmp_path: Path) -> None:
    path = tmp_path / "sched.yaml"
    path.write_text("apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n"
                    "profiles:\n- schedulerName: other\n")
    assert [p.scheduler_name for p in load_config(path).profiles] == ["other"]
    with pytest.raises(SchedulerConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")
    path.write_text("profiles: [unclosed\n")
    with pytest.raises(SchedulerConfigError, match="not valid YAML"):
        load_config(path)
