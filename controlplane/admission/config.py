"""``--admission-control-config-file``: upstream's ``AdmissionConfiguration``, per-plugin configuration.

Design
------
The file is an ``apiserver.config.k8s.io/v1`` (or ``apiserver.k8s.io/v1alpha1``) ``AdmissionConfiguration``
whose ``plugins`` list gives each plugin's configuration inline (``configuration``) or in another file
(``path``, relative to this one), YAML or JSON, as upstream reads it. kubelite's configurable plugin is
``PodSecurity`` (a ``PodSecurityConfiguration``); configuration for a plugin kubelite does not have is an
error, so a typo does not silently leave a cluster unprotected. Errors name the file and the entry; the
server refuses to start with one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

from kubelite.controlplane.admission.pod_security import (
    PodSecurityConfigError,
    PodSecurityConfiguration,
    parse_configuration,
)

API_VERSIONS: Final = ("apiserver.config.k8s.io/v1", "apiserver.k8s.io/v1alpha1")
PLUGINS: Final = ("PodSecurity",)


class AdmissionConfigError(ValueError):
    """The admission configuration cannot be used; the message names the file and the entry."""


@dataclass(frozen=True)
class AdmissionConfiguration:
    pod_security: PodSecurityConfiguration = field(default_factory=PodSecurityConfiguration)


def _load(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except OSError as exc:
        raise AdmissionConfigError(f"{path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise AdmissionConfigError(f"{path}: not YAML or JSON ({exc})") from None


def load_admission_configuration(path: Path | None) -> AdmissionConfiguration:
    """The configuration in ``path`` (None: upstream's defaults)."""
    if path is None:
        return AdmissionConfiguration()
    doc = _load(path)
    if not isinstance(doc, dict) or doc.get("kind") != "AdmissionConfiguration" or \
            doc.get("apiVersion") not in API_VERSIONS:
        raise AdmissionConfigError(f"{path}: must be an apiserver.config.k8s.io/v1 AdmissionConfiguration")
    plugins = doc.get("plugins") or []
    if not isinstance(plugins, list):
        raise AdmissionConfigError(f"{path}: plugins: must be a list of {{name, configuration | path}}")
    result = AdmissionConfiguration()
    for index, entry in enumerate(plugins):
        where = f"{path}: plugins[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise AdmissionConfigError(f"{where}.name: required")
        if entry["name"] not in PLUGINS:
            raise AdmissionConfigError(f"{where}.name: Unsupported value: {entry['name']!r}: supported values: "
                                       + ", ".join(repr(p) for p in PLUGINS))
        if "configuration" in entry:
            config = entry["configuration"]
        elif isinstance(entry.get("path"), str):
            config_path = Path(entry["path"])
            config = _load(config_path if config_path.is_absolute() else path.parent / config_path)
        else:
            raise AdmissionConfigError(f"{where}: needs configuration or path")
        try:
            result = AdmissionConfiguration(pod_security=parse_configuration(config, source=where))
        except PodSecurityConfigError as exc:
            raise AdmissionConfigError(str(exc)) from None
    return result
