"""Per-kind strategies for the built-in kinds, keyed as the registry looks them up: (group, plural).

Each strategy is upstream's defaulting (``SetDefaults_*``) and validation (``Validate*``,
``Validate*Update``) for its kind, on top of the generic object-metadata rules of
:class:`~kubelite.controlplane.apiserver.strategy.Strategy`. This package only re-exports.
"""

from __future__ import annotations

from kubelite.controlplane.apiserver.kinds.apps import (
    ControllerRevisionStrategy,
    DaemonSetStrategy,
    DeploymentStrategy,
    ReplicaSetStrategy,
    StatefulSetStrategy,
)
from kubelite.controlplane.apiserver.kinds.autoscaling import HorizontalPodAutoscalerStrategy
from kubelite.controlplane.apiserver.kinds.batch import CronJobStrategy, JobStrategy
from kubelite.controlplane.apiserver.kinds.certificates import CertificateSigningRequestStrategy
from kubelite.controlplane.apiserver.kinds.config import ConfigMapStrategy, SecretStrategy
from kubelite.controlplane.apiserver.kinds.coordination import LeaseStrategy
from kubelite.controlplane.apiserver.kinds.core import EndpointsStrategy, EventStrategy, NodeStrategy
from kubelite.controlplane.apiserver.kinds.discovery import EndpointSliceStrategy
from kubelite.controlplane.apiserver.kinds.disruption import PodDisruptionBudgetStrategy
from kubelite.controlplane.apiserver.kinds.limits import LimitRangeStrategy
from kubelite.controlplane.apiserver.kinds.networking import (
    IngressClassStrategy,
    IngressStrategy,
    NetworkPolicyStrategy,
)
from kubelite.controlplane.apiserver.kinds.quota import ResourceQuotaStrategy
from kubelite.controlplane.apiserver.kinds.rbac import (
    ClusterRoleBindingStrategy,
    ClusterRoleStrategy,
    RoleBindingStrategy,
    RoleStrategy,
)
from kubelite.controlplane.apiserver.kinds.scheduling import PriorityClassStrategy
from kubelite.controlplane.apiserver.kinds.storage import (
    PersistentVolumeClaimStrategy,
    PersistentVolumeStrategy,
    StorageClassStrategy,
)
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
    ("", "nodes"): NodeStrategy,
    ("", "endpoints"): EndpointsStrategy,
    ("", "events"): EventStrategy,
    ("events.k8s.io", "events"): EventStrategy,
    ("discovery.k8s.io", "endpointslices"): EndpointSliceStrategy,
    ("certificates.k8s.io", "certificatesigningrequests"): CertificateSigningRequestStrategy,
    ("apps", "controllerrevisions"): ControllerRevisionStrategy,
    ("networking.k8s.io", "networkpolicies"): NetworkPolicyStrategy,
    ("networking.k8s.io", "ingressclasses"): IngressClassStrategy,
    ("networking.k8s.io", "ingresses"): IngressStrategy,
    ("storage.k8s.io", "storageclasses"): StorageClassStrategy,
    ("", "persistentvolumeclaims"): PersistentVolumeClaimStrategy,
    ("", "persistentvolumes"): PersistentVolumeStrategy,
    ("", "resourcequotas"): ResourceQuotaStrategy,
    ("", "limitranges"): LimitRangeStrategy,
    ("autoscaling", "horizontalpodautoscalers"): HorizontalPodAutoscalerStrategy,
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
    "CertificateSigningRequestStrategy",
    "ClusterRoleBindingStrategy",
    "ClusterRoleStrategy",
    "ConfigMapStrategy",
    "ControllerRevisionStrategy",
    "CronJobStrategy",
    "DaemonSetStrategy",
    "DeploymentStrategy",
    "EndpointSliceStrategy",
    "EndpointsStrategy",
    "EventStrategy",
    "HorizontalPodAutoscalerStrategy",
    "IngressClassStrategy",
    "IngressStrategy",
    "JobStrategy",
    "LeaseStrategy",
    "LimitRangeStrategy",
    "NetworkPolicyStrategy",
    "NodeStrategy",
    "PersistentVolumeClaimStrategy",
    "PersistentVolumeStrategy",
    "PodDisruptionBudgetStrategy",
    "PriorityClassStrategy",
    "ReplicaSetStrategy",
    "ResourceQuotaStrategy",
    "RoleBindingStrategy",
    "RoleStrategy",
    "SecretStrategy",
    "StatefulSetStrategy",
    "StorageClassStrategy",
]
