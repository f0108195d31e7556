"""Per-kind strategies for the built-in kinds, keyed as the registry looks them up: (group, plural).

Each strategy is upstream's defaulting (``SetDefaults_*``) and validation (``Validate*``,
``Validate*Update``) for its kind, on top of the generic object-metadata rules of
:class:`~kubelite.controlplane.apiserver.strategy.Strategy`. This package only re-exports.
"""

from __future__ import annotations

from kubelite.controlplane.apiserver.kinds.apps import (
    DaemonSetStrategy,
    DeploymentStrategy,
    ReplicaSetStrategy,
    StatefulSetStrategy,
)
from kubelite.controlplane.apiserver.kinds.batch import CronJobStrategy, JobStrategy
from kubelite.controlplane.apiserver.kinds.config import ConfigMapStrategy, SecretStrategy
from kubelite.controlplane.apiserver.kinds.coordination import LeaseStrategy
from kubelite.controlplane.apiserver.kinds.disruption import PodDisruptionBudgetStrategy
from kubelite.controlplane.apiserver.kinds.rbac import (
    ClusterRoleBindingStrategy,
    ClusterRoleStrategy,
    RoleBindingStrategy,
    RoleStrategy,
)
from kubelite.controlplane.apiserver.kinds.scheduling import PriorityClassStrategy
from kubelite.controlplane.apiserver.strategy import Strategy

KIND_STRATEGIES: dict[tuple[str, str], type[Strategy]] = {
    ("apps", "deployments"): DeploymentStrategy,
    ("apps", "replicasets"): ReplicaSetStrategy,
    ("apps", "daemonsets"): DaemonSetStrategy,
    ("apps", "statefulsets"): StatefulSetStrategy,
    ("batch", "jobs"): JobStrategy,
    ("batch", "cronjobs"): CronJobStrategy,
    ("", "configmaps"): ConfigMapStrategy,
    ("", "secrets"): SecretStrategy,
    ("policy", "poddisruptionbudgets"): PodDisruptionBudgetStrategy,
    ("coordination.k8s.io", "leases"): LeaseStrategy,
    ("scheduling.k8s.io", "priorityclasses"): PriorityClassStrategy,
    ("rbac.authorization.k8s.io", "roles"): RoleStrategy,
    ("rbac.authorization.k8s.io", "clusterroles"): ClusterRoleStrategy,
    ("rbac.authorization.k8s.io", "rolebindings"): RoleBindingStrategy,
    ("rbac.authorization.k8s.io", "clusterrolebindings"): ClusterRoleBindingStrategy,
}

__all__ = [
    "KIND_STRATEGIES",
    "ClusterRoleBindingStrategy",
    "ClusterRoleStrategy",
    "ConfigMapStrategy",
    "CronJobStrategy",
    "DaemonSetStrategy",
    "DeploymentStrategy",
    "JobStrategy",
    "LeaseStrategy",
    "PodDisruptionBudgetStrategy",
    "PriorityClassStrategy",
    "ReplicaSetStrategy",
    "RoleBindingStrategy",
    "RoleStrategy",
    "SecretStrategy",
    "StatefulSetStrategy",
]
