"""KubeSchedulerConfiguration (``kubescheduler.config.k8s.io/v1``): profiles, plugins, weights, args.

Upstream ``pkg/scheduler/apis/config`` semantics, for the fields kubelite implements:

* ``profiles[]``: each starts from the default plugin set (``default_profile``); per extension
  point (``preFilter``, ``filter``, ``postFilter``, ``preScore``, ``score``, ``reserve``, ``permit``,
  ``preBind``, ``bind``, or ``multiPoint`` for every point the plugin implements) ``disabled`` removes
  default plugins (``name: "*"`` removes them all) and ``enabled`` appends plugins, or replaces a
  default one in place (upstream mergePlugins); ``score`` weights come from ``enabled[].weight``.
* ``pluginConfig[]``: ``{name, args}`` per plugin (e.g. NodeResourcesFit's ``scoringStrategy``).
* ``percentageOfNodesToScore`` (top level, or per profile), ``podInitialBackoffSeconds``,
  ``podMaxBackoffSeconds``.

Anything else upstream defines (leaderElection, clientConnection, metrics addresses, extenders, ...)
is accepted and ignored with a warning; a field upstream does not define, a wrong type or an invalid
profile is an error naming the field, and nothing is started (``SchedulerConfigError``). Profiles are
built once here, so a bad plugin name or argument is reported before the scheduler runs.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kubelite.controlplane.scheduler.framework import (
    _POINT_PROTOCOL,
    ExtensionPoint,
    Framework,
    Handle,
    PluginFactory,
    Profile,
    ProfileError,
)
from kubelite.controlplane.scheduler.plugins import default_profile, in_tree_registry
from kubelite.controlplane.scheduler.scheduling_queue import DEFAULT_INITIAL_BACKOFF, DEFAULT_MAX_BACKOFF

log = logging.getLogger(__name__)

API_VERSION = "kubescheduler.config.k8s.io/v1"
KIND = "KubeSchedulerConfiguration"
_IMPLEMENTED = {"apiVersion", "kind", "profiles", "percentageOfNodesToScore", "podInitialBackoffSeconds",
                "podMaxBackoffSeconds"}
_IGNORED = {"parallelism", "leaderElection", "clientConnection", "healthzBindAddress", "metricsBindAddress",
            "enableProfiling", "enableContentionProfiling", "extenders", "delayCacheUntilActive"}
_PROFILE_FIELDS = {"schedulerName", "percentageOfNodesToScore", "plugins", "pluginConfig"}
MULTI_POINT = "multiPoint"


class SchedulerConfigError(ValueError):
    """A configuration that cannot be used; the message names the file and field."""


@dataclass
class SchedulerConfig:
    """What the scheduler runs with (the implemented part of KubeSchedulerConfiguration)."""

    profiles: Sequence[Profile] = field(default_factory=lambda: [default_profile()])
    percentage_of_nodes_to_score: int = 0  # 0: upstream's adaptive default
    initial_backoff: float = DEFAULT_INITIAL_BACKOFF
    max_backoff: float = DEFAULT_MAX_BACKOFF


def _int_field(value: Any, where: str, *, low: int, high: int | None = None) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise SchedulerConfigError(f"{where}: must be an integer {bound}, got {value!r}")
    return value


def _plugin_list(value: Any, where: str) -> list[Mapping[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise SchedulerConfigError(f"{where}: must be a list of {{name, weight}}, got {value!r}")
    for i, entry in enumerate(value):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"]:
            raise SchedulerConfigError(f"{where}[{i}].name: Required value")
        unknown = set(entry) - {"name", "weight"}
        if unknown:
            raise SchedulerConfigError(f"{where}[{i}]: unknown field(s) {', '.join(sorted(unknown))}")
    return value


def _points_of(name: str, registry: Mapping[str, PluginFactory], args: Mapping[str, Any]) -> list[ExtensionPoint]:
    factory = registry.get(name)
    if factory is None:
        raise SchedulerConfigError(f"unknown plugin {name!r} (known: {', '.join(sorted(registry))})")
    try:
        plugin = factory(args)
    except ProfileError as exc:
        raise SchedulerConfigError(f"pluginConfig[{name}]: {exc}") from None
    return [point for point, protocol in _POINT_PROTOCOL.items() if isinstance(plugin, protocol)]


def build_profile(raw: Mapping[str, Any], *, index: int, registry: Mapping[str, PluginFactory]) -> Profile:
    """One ``profiles[index]`` entry merged onto the default profile."""
    where = f"profiles[{index}]"
    if not isinstance(raw, dict):
        raise SchedulerConfigError(f"{where}: must be an object")
    unknown = set(raw) - _PROFILE_FIELDS
    if unknown:
        raise SchedulerConfigError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}; "
                                   f"allowed: {', '.join(sorted(_PROFILE_FIELDS))}")
    name = raw.get("schedulerName", "default-scheduler")
    if not isinstance(name, str) or not name:
        raise SchedulerConfigError(f"{where}.schedulerName: Required value")
    args: dict[str, Mapping[str, Any]] = {}
    for i, entry in enumerate(raw.get("pluginConfig") or []):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise SchedulerConfigError(f"{where}.pluginConfig[{i}].name: Required value")
        if entry["name"] in args:
            raise SchedulerConfigError(f"{where}.pluginConfig[{i}]: duplicate entry for {entry['name']!r}")
        entry_args = entry.get("args") or {}
        if not isinstance(entry_args, dict):
            raise SchedulerConfigError(f"{where}.pluginConfig[{i}].args: must be an object")
        # upstream's args objects carry apiVersion/kind of their own
        args[entry["name"]] = {k: v for k, v in entry_args.items() if k not in ("apiVersion", "kind")}
    base = default_profile(scheduler_name=name)
    plugins: dict[ExtensionPoint, list[str]] = {point: list(base.plugins.get(point, ())) for point in ExtensionPoint}
    weights = dict(base.score_weights)
    sets = raw.get("plugins") or {}
    if not isinstance(sets, dict):
        raise SchedulerConfigError(f"{where}.plugins: must be an object")
    known_points = {point.value for point in ExtensionPoint} | {MULTI_POINT, "queueSort"}
    for key in sets:
        if key not in known_points:
            raise SchedulerConfigError(f"{where}.plugins: unknown extension point {key!r}; "
                                       f"allowed: {', '.join(sorted(known_points))}")
    # multiPoint first, as upstream: per-point settings then refine what it expanded to
    order = [MULTI_POINT] + [point.value for point in ExtensionPoint]
    for key in order:
        group = sets.get(key)
        if group is None:
            continue
        if not isinstance(group, dict) or set(group) - {"enabled", "disabled"}:
            raise SchedulerConfigError(f"{where}.plugins.{key}: must be an object with enabled and/or disabled")
        enabled = _plugin_list(group.get("enabled"), f"{where}.plugins.{key}.enabled")
        disabled = _plugin_list(group.get("disabled"), f"{where}.plugins.{key}.disabled")
        targets = list(ExtensionPoint) if key == MULTI_POINT else [ExtensionPoint(key)]
        for entry in disabled:
            for point in targets:
                if entry["name"] == "*":
                    plugins[point] = []
                else:
                    plugins[point] = [p for p in plugins[point] if p != entry["name"]]
        for i, entry in enumerate(enabled):
            plugin_name = entry["name"]
            try:
                implemented = _points_of(plugin_name, registry, args.get(plugin_name, {}))
            except SchedulerConfigError as exc:
                raise SchedulerConfigError(f"{where}.plugins.{key}.enabled[{i}]: {exc}") from None
            if key != MULTI_POINT and ExtensionPoint(key) not in implemented:
                raise SchedulerConfigError(f"{where}.plugins.{key}.enabled[{i}]: plugin {plugin_name!r} does not "
                                           f"implement the {key} extension point")
            for point in (implemented if key == MULTI_POINT else targets):
                if plugin_name not in plugins[point]:
                    plugins[point].append(plugin_name)
            if "weight" in entry and (key in (MULTI_POINT, "score")):
                weights[plugin_name] = _int_field(entry["weight"], f"{where}.plugins.{key}.enabled[{i}].weight",
                                                  low=1)
    score_names = set(plugins[ExtensionPoint.SCORE])
    weights = {k: v for k, v in weights.items() if k in score_names}
    percentage = raw.get("percentageOfNodesToScore")
    if percentage is not None:
        percentage = _int_field(percentage, f"{where}.percentageOfNodesToScore", low=0, high=100)
    return Profile(scheduler_name=name, plugins=plugins, score_weights=weights, plugin_args=args,
                   percentage_of_nodes_to_score=percentage)


def parse_config(document: Any, *, source: str = "config") -> SchedulerConfig:
    """A parsed YAML/JSON document -> SchedulerConfig."""
    try:
        return _parse(document)
    except SchedulerConfigError as exc:
        raise SchedulerConfigError(f"{source}: {exc}") from None


def _parse(document: Any) -> SchedulerConfig:
    if not isinstance(document, dict):
        raise SchedulerConfigError(f"must be a {KIND} object")
    if document.get("apiVersion") != API_VERSION:
        raise SchedulerConfigError(f"apiVersion: unsupported value {document.get('apiVersion')!r}; "
                                   f"supported: {API_VERSION!r}")
    if document.get("kind") != KIND:
        raise SchedulerConfigError(f"kind: unsupported value {document.get('kind')!r}; supported: {KIND!r}")
    unknown = set(document) - _IMPLEMENTED - _IGNORED
    if unknown:
        raise SchedulerConfigError(f"unknown field(s) {', '.join(sorted(unknown))}")
    for name in sorted(set(document) & _IGNORED):
        log.warning("scheduler configuration: %s is not implemented by kubelite and is ignored", name)
    percentage = _int_field(document.get("percentageOfNodesToScore", 0), "percentageOfNodesToScore", low=0, high=100)
    initial = document.get("podInitialBackoffSeconds", int(DEFAULT_INITIAL_BACKOFF))
    maximum = document.get("podMaxBackoffSeconds", int(DEFAULT_MAX_BACKOFF))
    initial = _int_field(initial, "podInitialBackoffSeconds", low=1)
    maximum = _int_field(maximum, "podMaxBackoffSeconds", low=1)
    if maximum < initial:
        raise SchedulerConfigError(f"podMaxBackoffSeconds: must be at least podInitialBackoffSeconds ({initial}), "
                                   f"got {maximum}")
    raw_profiles = document.get("profiles")
    if raw_profiles is None:
        raw_profiles = [{}]
    if not isinstance(raw_profiles, list) or not raw_profiles:
        raise SchedulerConfigError("profiles: must be a non-empty list")
    registry = in_tree_registry(Handle())
    profiles: list[Profile] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_profiles):
        profile = build_profile(raw, index=index, registry=registry)
        if profile.scheduler_name in seen:
            raise SchedulerConfigError(f"profiles[{index}].schedulerName: Duplicate value: "
                                       f"{profile.scheduler_name!r}")
        seen.add(profile.scheduler_name)
        try:
            Framework(profile=profile, registry=registry, percentage_of_nodes_to_score=percentage)
        except ProfileError as exc:
            raise SchedulerConfigError(str(exc)) from None
        profiles.append(profile)
    return SchedulerConfig(profiles=profiles, percentage_of_nodes_to_score=percentage,
                       initial_backoff=float(initial), max_backoff=float(maximum))


def load_config(path: str | Path) -> SchedulerConfig:
    """Read a KubeSchedulerConfiguration file (YAML or JSON)."""
    source = str(path)
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise SchedulerConfigError(f"{source}: cannot read: {exc.strerror or exc}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SchedulerConfigError(f"{source}: not valid YAML: {exc}") from None
    return parse_config(document, source=source)

