"""Server-side Table printing: what ``kubectl get`` shows, computed by the API server as upstream does.

kubectl 1.32 asks for ``Accept: application/json;as=Table;v=v1;g=meta.k8s.io`` and prints the
``meta.k8s.io/v1`` Table it gets back verbatim, hiding columns with ``priority > 0`` unless ``-o
wide``. So every column name, cell value and cell *type* here must be the ones upstream computes:

* Built-in resources follow ``k8s.io/kubernetes/pkg/printers/internalversion/printers.go``
  (release 1.32). The server always generates the *wide* row (``printers/storage.TableConvertor``
  calls the generator with ``Wide: true``), so :func:`row_cells` returns every cell, including the
  ``priority: 1`` ones, and load-balancer addresses are never clipped. Integer cells are ints,
  boolean cells bools, everything else strings, exactly as the Go printers produce them.
* Resources without a printer (roles, clusterroles, limitranges, customresourcedefinitions, and
  anything unknown) get ``apiserver/pkg/registry/rest/table.go``'s default: ``Name`` and a
  ``Created At`` date column holding the RFC 3339 creation time.
* Custom resources get ``apiextensions-apiserver``'s convertor: ``Name`` plus the CRD version's
  ``additionalPrinterColumns`` (or a single ``Age`` column when there are none), each cell read
  with a small JSONPath evaluator (:func:`custom_resource_cells`).
* :func:`to_table` wraps rows like ``endpoints/handlers/response.go`` ``asTable``: ``includeObject``
  ``Object`` embeds the object, ``Metadata`` (the default) a ``PartialObjectMetadata``, ``None``
  null.

Objects are plain JSON dicts as on the wire (the external version, e.g. ``apps/v1``); where the Go
printer reads an internal-version field, the accessor here reads the wire field it is converted
from (``lastState`` for ``LastTerminationState``, ``reportingComponent`` for
``ReportingController``, ``podIPs``/``podIP``, ``clusterIPs``/``clusterIP``, events.k8s.io/v1 and
autoscaling/v1 shapes). Missing or null fields read as Go zero values, because that is what the Go
printer sees for them; fields that upstream always defaults before printing (replicas, a Service
port's protocol) read as their default.

Column descriptions are the OpenAPI descriptions of the fields upstream names (for printers that
cite a beta type's SwaggerDoc, the GA type's text is used; kubectl never displays descriptions).

Durations follow ``apimachinery/pkg/util/duration.HumanDuration`` (see :func:`human_duration`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from kubelite.api.quantity import Quantity, QuantityError
from kubelite.controlplane.apiserver.errors import APIError

__all__ = [
    "INCLUDE_OBJECT_VALUES",
    "TABLE_API_VERSIONS",
    "TableConversionError",
    "column_definitions",
    "custom_resource_cells",
    "custom_resource_columns",
    "human_duration",
    "row_cells",
    "to_table",
    "translate_timestamp_since",
    "validate_printer_column_path",
]

Obj = dict[str, Any]
Row = tuple[list[Any], list[dict[str, str]]]

INCLUDE_OBJECT_VALUES: Final = ("None", "Metadata", "Object")
TABLE_API_VERSIONS: Final = ("meta.k8s.io/v1", "meta.k8s.io/v1beta1")

# Go's zero time.Time; a missing or null timestamp reads as this, as it does in the Go structs.
ZERO_TIME: Final = datetime(1, 1, 1, tzinfo=UTC)


class TableConversionError(APIError):
    """A Table request that cannot be served; carries the upstream Status code, reason and message."""


# ---------------------------------------------------------------------------------------------
# Reading plain JSON objects the way the Go structs see them
# ---------------------------------------------------------------------------------------------


def _m(obj: Any, key: str) -> Obj:
    """A nested object field; absent, null or mistyped reads as an empty struct."""
    if isinstance(obj, dict):
        value = obj.get(key)
        if isinstance(value, dict):
            return value
    return {}


def _opt(obj: Any, key: str) -> Obj | None:
    """A pointer-to-struct field: None when absent or null (the Go nil pointer)."""
    if isinstance(obj, dict):
        value = obj.get(key)
        if isinstance(value, dict):
            return value
    return None


def _l(obj: Any, key: str) -> list[Any]:
    if isinstance(obj, dict):
        value = obj.get(key)
        if isinstance(value, list):
            return value
    return []


def _ml(obj: Any, key: str) -> list[Obj]:
    """A list-of-structs field; non-object items read as empty structs."""
    return [item if isinstance(item, dict) else {} for item in _l(obj, key)]


def _s(obj: Any, key: str) -> str:
    if isinstance(obj, dict):
        value = obj.get(key)
        if isinstance(value, str):
            return value
    return ""


def _i(obj: Any, key: str, default: int = 0) -> int:
    if isinstance(obj, dict):
        value = obj.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    return default


def _opt_i(obj: Any, key: str) -> int | None:
    if isinstance(obj, dict):
        value = obj.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    return None


def _b(obj: Any, key: str) -> bool:
    return isinstance(obj, dict) and obj.get(key) is True


def _opt_b(obj: Any, key: str) -> bool | None:
    if isinstance(obj, dict):
        value = obj.get(key)
        if isinstance(value, bool):
            return value
    return None


def _opt_s(obj: Any, key: str) -> str | None:
    if isinstance(obj, dict):
        value = obj.get(key)
        if isinstance(value, str):
            return value
    return None


def _ptr_s(obj: Any, key: str, default: str) -> str:
    """A *string pointer field: its value when set (even ""), ``default`` when nil."""
    value = _opt_s(obj, key)
    return default if value is None else value


def _str_map(obj: Any, key: str) -> dict[str, str]:
    return {str(k): v if isinstance(v, str) else str(v) for k, v in _m(obj, key).items()}


def _has(obj: Any, key: str) -> bool:
    """A pointer field is set (non-null) on the wire."""
    return isinstance(obj, dict) and obj.get(key) is not None


# ---------------------------------------------------------------------------------------------
# Time: RFC 3339 parsing and upstream's HumanDuration
# ---------------------------------------------------------------------------------------------

_RFC3339: Final = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$"
)


def _parse_rfc3339(text: str) -> datetime | None:
    """Go's ``time.Parse(time.RFC3339, text)``: None when the text is not RFC 3339."""
    match = _RFC3339.match(text)
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    # Go keeps nanoseconds; microseconds are enough for durations printed in whole seconds.
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    offset = timedelta(0)
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        offset = sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    try:
        local = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro,
                         tzinfo=UTC)
    except ValueError:
        return None
    return local - offset


def _time(value: Any) -> datetime:
    """A metav1.Time/MicroTime field: the zero time when absent, null or unparseable."""
    if isinstance(value, str) and value:
        parsed = _parse_rfc3339(value)
        if parsed is not None:
            return parsed
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return ZERO_TIME


def _is_zero(moment: datetime) -> bool:
    return moment == ZERO_TIME


def _micros(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def human_duration(delta: timedelta) -> str:
    """Upstream ``duration.HumanDuration``: ~2-3 significant figures ("59s", "2m3s", "5h10m", "3d4h").

    Two seconds of clock skew into the future still read "0s"; more is "<invalid>".
    """
    micros = _micros(delta)
    # int(d.Seconds()) truncates toward zero in Go.
    seconds = abs(micros) // 1_000_000 * (1 if micros >= 0 else -1)
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 60 * 2:
        return f"{seconds}s"
    minutes = micros // 60_000_000
    if minutes < 10:
        rest = seconds % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = micros // 3_600_000_000
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if days == 0 else f"{hours // 24 // 365}y{days}d"
    return f"{hours // 24 // 365}y"


def _utc(now: datetime) -> datetime:
    # A naive "now" is taken as UTC: every timestamp on the wire is UTC.
    return now if now.tzinfo else now.replace(tzinfo=UTC)


def translate_timestamp_since(value: Any, *, now: datetime) -> str:
    """Upstream ``translateTimestampSince``: "<unknown>" for a zero time, else the age at ``now``."""
    moment = _time(value)
    if _is_zero(moment):
        return "<unknown>"
    return human_duration(_utc(now) - moment)


def _age(obj: Obj, now: datetime) -> str:
    return translate_timestamp_since(_m(obj, "metadata").get("creationTimestamp"), now=now)


def _name(obj: Obj) -> str:
    return _s(_m(obj, "metadata"), "name")


# ---------------------------------------------------------------------------------------------
# Formatting helpers shared by several printers
# ---------------------------------------------------------------------------------------------


def _format_labels(labels: Mapping[str, str]) -> str:
    """``labels.FormatLabels``: sorted ``k=v`` joined by commas, "<none>" when empty."""
    text = ",".join(f"{key}={labels[key]}" for key in sorted(labels))
    return text or "<none>"


class _SelectorError(ValueError):
    pass


def _selector_string(selector: Obj | None) -> str:
    """``metav1.LabelSelectorAsSelector(s).String()``; raises _SelectorError where upstream errors.

    nil selects nothing and {} everything; both print as the empty string.
    """
    if selector is None:
        return ""
    requirements: list[tuple[str, str]] = []
    for key, value in _m(selector, "matchLabels").items():
        requirements.append((str(key), f"{key}={value}"))
    for expression in _ml(selector, "matchExpressions"):
        key = _s(expression, "key")
        operator = _s(expression, "operator")
        values = sorted(str(v) for v in _l(expression, "values"))
        if operator in ("In", "NotIn"):
            if not values:
                raise _SelectorError(f"for 'in', 'notin' operators, values set can't be empty: {key}")
            word = "in" if operator == "In" else "notin"
            requirements.append((key, f"{key} {word} ({','.join(values)})"))
        elif operator in ("Exists", "DoesNotExist"):
            if values:
                raise _SelectorError(f"values set must be empty for exists and does not exist: {key}")
            requirements.append((key, key if operator == "Exists" else f"!{key}"))
        else:
            raise _SelectorError(f"{operator!r} is not a valid label selector operator")
    # labels.Selector.Add sorts requirements by key.
    requirements.sort(key=lambda item: item[0])
    return ",".join(text for _, text in requirements)


def _format_label_selector(selector: Obj | None) -> str:
    """``metav1.FormatLabelSelector``: "<none>" for an empty selector, "<error>" for a bad one."""
    try:
        text = _selector_string(selector)
    except _SelectorError:
        return "<error>"
    return text or "<none>"


def _container_cells(containers: list[Obj]) -> tuple[str, str]:
    """``layoutContainerCells``: container names and images, each joined by commas."""
    return ",".join(_s(c, "name") for c in containers), ",".join(_s(c, "image") for c in containers)


def _template_containers(obj: Obj) -> list[Obj]:
    return _ml(_m(_m(_m(obj, "spec"), "template"), "spec"), "containers")


def _quantity(value: Any) -> str:
    """``Quantity.String()`` of a wire quantity; a missing one is the zero Quantity, "0"."""
    if value is None:
        return "0"
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return str(value)
    try:
        return str(Quantity.parse(value))
    except QuantityError:
        # Stored objects passed validation; echo anything else rather than fail the whole list.
        return str(value)


def _quantity_ptr(value: Any) -> str:
    """``(*Quantity).String()`` on a possibly nil pointer: nil prints "<nil>"."""
    return "<nil>" if value is None else _quantity(value)


def _int_or_string(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    return value if isinstance(value, str) else str(value)


def _list_with_more(items: list[str], *, more: bool, count: int, limit: int) -> str:
    text = ",".join(items)
    if more:
        return f"{text} + {count - limit} more..."
    return text or "<unset>"


def _go_bool(value: bool) -> str:
    return "True" if value else "False"


def _join_host_port(host: str, port: int) -> str:
    """``net.JoinHostPort``: brackets around hosts that contain a colon (IPv6)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# ---------------------------------------------------------------------------------------------
# Column definitions
# ---------------------------------------------------------------------------------------------

# Field descriptions the Go printers take from SwaggerDoc(); keyed "Type.field".
_DOC: Final[dict[str, str]] = {
    'ObjectMeta.name': (
        'Name must be unique within a namespace. Is required when creating resources, although some resources may'
        ' allow a client to request the generation of an appropriate name automatically. Name is primarily '
        'intended for creation idempotence and configuration definition. Cannot be updated. More info: '
        'https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names'
    ),
    'ObjectMeta.creationTimestamp': (
        'CreationTimestamp is a timestamp representing the server time when this object was created. It is not '
        'guaranteed to be set in happens-before order across separate operations. Clients may not set this value.'
        ' It is represented in RFC3339 form and is in UTC.  Populated by the system. Read-only. Null for lists. '
        'More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata'
    ),
    'PodStatus.podIP': (
        'podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.'
    ),
    'PodStatus.nominatedNodeName': (
        'nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled '
        'right away as preemption victims receive their graceful termination periods. This field does not '
        'guarantee that the pod will be scheduled on this node. Scheduler may decide to place the pod elsewhere '
        'if other nodes become available sooner. Scheduler may also decide to give the resources on this node to '
        'a higher priority pod that is created after preemption. As a result, this field may be different than '
        'PodSpec.nodeName when the pod is scheduled.'
    ),
    'PodSpec.nodeName': (
        'NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for scheduling'
        ' by the scheduler defined in schedulerName. Once this field is set, the kubelet for this node becomes '
        'responsible for the lifecycle of this pod. This field should not be used to express a desire for the pod'
        ' to be scheduled on a specific node. '
        'https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#nodename'
    ),
    'PodSpec.readinessGates': (
        'If specified, all readiness gates will be evaluated for pod readiness. A pod is ready when all its '
        'containers are ready AND all conditions specified in the readiness gates have status equal to "True" '
        'More info: https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates'
    ),
    'PodSpec.nodeSelector': (
        'NodeSelector is a selector which must be true for the pod to fit on a node. Selector which must match a '
        "node's labels for the pod to be scheduled on that node. More info: "
        'https://kubernetes.io/docs/concepts/configuration/assign-pod-node/'
    ),
    'ReplicationControllerSpec.replicas': (
        'Replicas is the number of desired replicas. This is a pointer to distinguish between explicit zero and '
        'unspecified. Defaults to 1. More info: '
        'https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller#what-is-a-replicationcontroller'
    ),
    'ReplicationControllerSpec.selector': (
        'Selector is a label query over pods that should match the Replicas count. If Selector is empty, it is '
        'defaulted to the labels present on the Pod template. Label keys and values that must match in order to '
        'be controlled by this replication controller, if empty defaulted to labels on Pod template. More info: '
        'https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors'
    ),
    'ReplicationControllerStatus.replicas': (
        'Replicas is the most recently observed number of replicas. More info: '
        'https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller#what-is-a-replicationcontroller'
    ),
    'ReplicationControllerStatus.readyReplicas': (
        'The number of ready replicas for this replication controller.'
    ),
    'ReplicaSetSpec.replicas': (
        'Replicas is the number of desired pods. This is a pointer to distinguish between explicit zero and '
        'unspecified. Defaults to 1. More info: '
        'https://kubernetes.io/docs/concepts/workloads/controllers/replicaset'
    ),
    'ReplicaSetStatus.replicas': (
        'Replicas is the most recently observed number of non-terminating pods. More info: '
        'https://kubernetes.io/docs/concepts/workloads/controllers/replicaset'
    ),
    'ReplicaSetStatus.readyReplicas': (
        'The number of non-terminating pods targeted by this ReplicaSet with a Ready Condition.'
    ),
    'DaemonSetStatus.desiredNumberScheduled': (
        'The total number of nodes that should be running the daemon pod (including nodes correctly running the '
        'daemon pod). More info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/'
    ),
    'DaemonSetStatus.currentNumberScheduled': (
        'The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod. More '
        'info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/'
    ),
    'DaemonSetStatus.numberReady': (
        'numberReady is the number of nodes that should be running the daemon pod and have one or more of the '
        'daemon pod running with a Ready Condition.'
    ),
    'DaemonSetStatus.updatedNumberScheduled': (
        'The total number of nodes that are running updated daemon pod'
    ),
    'DaemonSetStatus.numberAvailable': (
        'The number of nodes that should be running the daemon pod and have one or more of the daemon pod running'
        ' and available (ready for at least spec.minReadySeconds)'
    ),
    'JobStatus.succeeded': (
        'The number of pods which reached phase Succeeded. The value increases monotonically for a given spec. '
        'However, it may decrease in reaction to scale down of elastic indexed jobs.'
    ),
    'CronJobSpec.schedule': (
        'The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron.'
    ),
    'CronJobSpec.timeZone': (
        'The time zone name for the given schedule, see '
        'https://en.wikipedia.org/wiki/List_of_tz_database_time_zones. If not specified, this will default to the'
        ' time zone of the kube-controller-manager process. The set of valid time zone names and the time zone '
        'offset is loaded from the system-wide time zone database by the API server during CronJob validation and'
        ' the controller manager during execution. If no system-wide time zone database can be found a bundled '
        'version of the database is used instead. If the time zone name becomes invalid during the lifetime of a '
        'CronJob or due to a change in host configuration, the controller will stop creating new new Jobs and '
        'will create a system event with the reason UnknownTimeZone. More information can be found in '
        'https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/#time-zones'
    ),
    'CronJobSpec.suspend': (
        'This flag tells the controller to suspend subsequent executions, it does not apply to already started '
        'executions.  Defaults to false.'
    ),
    'CronJobStatus.active': (
        'A list of pointers to currently running jobs.'
    ),
    'CronJobStatus.lastScheduleTime': (
        'Information when was the last time the job was successfully scheduled.'
    ),
    'ServiceSpec.type': (
        'type determines how the Service is exposed. Defaults to ClusterIP. Valid options are ExternalName, '
        'ClusterIP, NodePort, and LoadBalancer. "ClusterIP" allocates a cluster-internal IP address for '
        'load-balancing to endpoints. Endpoints are determined by the selector or if that is not specified, by '
        'manual construction of an Endpoints object or EndpointSlice objects. If clusterIP is "None", no virtual '
        'IP is allocated and the endpoints are published as a set of endpoints rather than a virtual IP. '
        '"NodePort" builds on ClusterIP and allocates a port on every node which routes to the same endpoints as '
        'the clusterIP. "LoadBalancer" builds on NodePort and creates an external load-balancer (if supported in '
        'the current cloud) which routes to the same endpoints as the clusterIP. "ExternalName" aliases this '
        'service to the specified externalName. Several other fields do not apply to ExternalName services. More '
        'info: https://kubernetes.io/docs/concepts/services-networking/service/#publishing-services-service-types'
    ),
    'ServiceSpec.clusterIP': (
        'clusterIP is the IP address of the service and is usually assigned randomly. If an address is specified '
        'manually, is in-range (as per system configuration), and is not in use, it will be allocated to the '
        'service; otherwise creation of the service will fail. This field may not be changed through updates '
        'unless the type field is also being changed to ExternalName (which requires this field to be blank) or '
        'the type field is being changed from ExternalName (in which case this field may optionally be specified,'
        ' as describe above).  Valid values are "None", empty string (""), or a valid IP address. Setting this to'
        ' "None" makes a "headless service" (no virtual IP), which is useful when direct endpoint connections are'
        ' preferred and proxying is not required.  Only applies to types ClusterIP, NodePort, and LoadBalancer. '
        'If this field is specified when creating a Service of type ExternalName, creation will fail. This field '
        'will be wiped when updating a Service to type ExternalName. More info: '
        'https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies'
    ),
    'ServiceSpec.externalIPs': (
        'externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this '
        'service.  These IPs are not managed by Kubernetes.  The user is responsible for ensuring that traffic '
        'arrives at a node with this IP.  A common example is external load-balancers that are not part of the '
        'Kubernetes system.'
    ),
    'ServiceSpec.ports': (
        'The list of ports that are exposed by this service. More info: '
        'https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies'
    ),
    'ServiceSpec.selector': (
        'Route service traffic to pods with label keys and values matching this selector. If empty or not '
        'present, the service is assumed to have an external process managing its endpoints, which Kubernetes '
        'will not modify. Only applies to types ClusterIP, NodePort, and LoadBalancer. Ignored if type is '
        'ExternalName. More info: https://kubernetes.io/docs/concepts/services-networking/service/'
    ),
    'Endpoints.subsets': (
        'The set of all endpoints is the union of all subsets. Addresses are placed into subsets according to the'
        ' IPs they share. A single address with multiple ports, some of which are ready and some of which are not'
        ' (because they come from different containers) will result in the address being displayed in different '
        'subsets for the different ports. No address will appear in both Addresses and NotReadyAddresses in the '
        'same subset. Sets of addresses and ports that comprise a service.'
    ),
    'NodeSystemInfo.kubeletVersion': (
        'Kubelet Version reported by the node.'
    ),
    'NodeSystemInfo.osImage': (
        'OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).'
    ),
    'NodeSystemInfo.kernelVersion': (
        "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64)."
    ),
    'NodeSystemInfo.containerRuntimeVersion': (
        'ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).'
    ),
    'NodeStatus.addresses': (
        'List of addresses reachable to the node. Queried from cloud provider, if available. More info: '
        'https://kubernetes.io/docs/reference/node/node-status/#addresses Note: This field is declared as '
        'mergeable, but the merge key is not sufficiently unique, which can cause data corruption when it is '
        'merged. Callers should instead use a full-replacement patch. See https://pr.k8s.io/79391 for an example.'
        ' Consumers should assume that addresses can change during the lifetime of a Node. However, there are '
        "some exceptions where this may not be possible, such as Pods that inherit a Node's address in its own "
        'status or consumers of the downward API (status.hostIP).'
    ),
    'Event.lastTimestamp': (
        'The time at which the most recent occurrence of this event was recorded.'
    ),
    'Event.firstTimestamp': (
        'The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)'
    ),
    'Event.count': (
        'The number of times this event has occurred.'
    ),
    'Event.type': (
        'Type of this event (Normal, Warning), new types could be added in the future'
    ),
    'Event.reason': (
        'This should be a short, machine understandable string that gives the reason for the transition into the '
        "object's current status."
    ),
    'Event.message': (
        'A human-readable description of the status of this operation.'
    ),
    'ObjectReference.fieldPath': (
        'If referring to a piece of an object instead of an entire object, this string should contain a valid '
        'JSON/Go field access statement, such as desiredState.manifest.containers[2]. For example, if the object '
        'reference is to a container within a pod, this would take on a value like: "spec.containers{name}" '
        '(where "name" refers to the name of the container that triggered the event) or if no container name is '
        'specified "spec.containers[2]" (container with index 2 in this pod). This syntax is chosen only to have '
        'some well-defined way of referencing a part of an object.'
    ),
    'Secret.type': (
        'Used to facilitate programmatic handling of secret data. More info: '
        'https://kubernetes.io/docs/concepts/configuration/secret/#secret-types'
    ),
    'Secret.data': (
        "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'. The "
        'serialized form of the secret data is a base64 encoded string, representing the arbitrary (possibly '
        'non-string) data value here. Described in https://tools.ietf.org/html/rfc4648#section-4'
    ),
    'ServiceAccount.secrets': (
        'Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are '
        'allowed to use. Pods are only limited to this list if this service account has a '
        '"kubernetes.io/enforce-mountable-secrets" annotation set to "true". The '
        '"kubernetes.io/enforce-mountable-secrets" annotation is deprecated since v1.32. Prefer separate '
        'namespaces to isolate access to mounted secrets. This field should not be used to find auto-generated '
        'service account token secrets for use outside of pods. Instead, tokens can be requested directly using '
        'the TokenRequest API, or service account token secrets can be manually created. More info: '
        'https://kubernetes.io/docs/concepts/configuration/secret'
    ),
    'PersistentVolumeSpec.capacity': (
        "capacity is the description of the persistent volume's resources and capacity. More info: "
        'https://kubernetes.io/docs/concepts/storage/persistent-volumes#capacity'
    ),
    'PersistentVolumeSpec.accessModes': (
        'accessModes contains all ways the volume can be mounted. More info: '
        'https://kubernetes.io/docs/concepts/storage/persistent-volumes#access-modes'
    ),
    'PersistentVolumeSpec.persistentVolumeReclaimPolicy': (
        'persistentVolumeReclaimPolicy defines what happens to a persistent volume when released from its claim. '
        'Valid options are Retain (default for manually created PersistentVolumes), Delete (default for '
        'dynamically provisioned PersistentVolumes), and Recycle (deprecated). Recycle must be supported by the '
        'volume plugin underlying this PersistentVolume. More info: '
        'https://kubernetes.io/docs/concepts/storage/persistent-volumes#reclaiming'
    ),
    'PersistentVolumeSpec.volumeMode': (
        'volumeMode defines if a volume is intended to be used with a formatted filesystem or to remain in raw '
        'block state. Value of Filesystem is implied when not included in spec.'
    ),
    'PersistentVolumeStatus.phase': (
        'phase indicates if a volume is available, bound to a claim, or released by a claim. More info: '
        'https://kubernetes.io/docs/concepts/storage/persistent-volumes#phase'
    ),
    'PersistentVolumeStatus.reason': (
        'reason is a brief CamelCase string that describes any failure and is meant for machine parsing and tidy '
        'display in the CLI.'
    ),
    'PersistentVolumeClaimStatus.phase': (
        'phase represents the current phase of PersistentVolumeClaim.'
    ),
    'PersistentVolumeClaimStatus.capacity': (
        'capacity represents the actual resources of the underlying volume.'
    ),
    'PersistentVolumeClaimStatus.accessModes': (
        'accessModes contains the actual access modes the volume backing the PVC has. More info: '
        'https://kubernetes.io/docs/concepts/storage/persistent-volumes#access-modes-1'
    ),
    'PersistentVolumeClaimSpec.volumeName': (
        'volumeName is the binding reference to the PersistentVolume backing this claim.'
    ),
    'PersistentVolumeClaimSpec.volumeMode': (
        'volumeMode defines what type of volume is required by the claim. Value of Filesystem is implied when not'
        ' included in claim spec.'
    ),
    'DeploymentStatus.updatedReplicas': (
        'Total number of non-terminating pods targeted by this deployment that have the desired template spec.'
    ),
    'DeploymentStatus.availableReplicas': (
        'Total number of available non-terminating pods (ready for at least minReadySeconds) targeted by this '
        'deployment.'
    ),
    'HorizontalPodAutoscalerSpec.metrics': (
        'metrics contains the specifications for which to use to calculate the desired replica count (the maximum'
        ' replica count across all metrics will be used).  The desired replica count is calculated multiplying '
        'the ratio between the target value and the current value by the current number of pods.  Ergo, metrics '
        'used must decrease as the pod count is increased, and vice-versa.  See the individual metric source '
        'types for more information about how each type of metric must respond. If not set, the default metric '
        'will be set to 80% average CPU utilization.'
    ),
    'HorizontalPodAutoscalerSpec.minReplicas': (
        'minReplicas is the lower limit for the number of replicas to which the autoscaler can scale down.  It '
        'defaults to 1 pod.  minReplicas is allowed to be 0 if the alpha feature gate HPAScaleToZero is enabled '
        'and at least one Object or External metric is configured.  Scaling is active as long as at least one '
        'metric value is available.'
    ),
    'HorizontalPodAutoscalerSpec.maxReplicas': (
        'maxReplicas is the upper limit for the number of replicas to which the autoscaler can scale up. It '
        'cannot be less that minReplicas.'
    ),
    'HorizontalPodAutoscalerStatus.currentReplicas': (
        'currentReplicas is current number of replicas of pods managed by this autoscaler, as last seen by the '
        'autoscaler.'
    ),
    'ConfigMap.data': (
        "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'."
        ' Values with non-UTF-8 byte sequences must use the BinaryData field. The keys stored in Data must not '
        'overlap with the keys in the BinaryData field, this is enforced during validation process.'
    ),
    'CertificateSigningRequestSpec.signerName': (
        'signerName indicates the requested signer, and is a qualified name.  List/watch requests for '
        'CertificateSigningRequests can filter on this field using a "spec.signerName=NAME" fieldSelector.  '
        'Well-known Kubernetes signers are:  1. "kubernetes.io/kube-apiserver-client": issues client certificates'
        ' that can be used to authenticate to kube-apiserver.   Requests for this signer are never auto-approved '
        'by kube-controller-manager, can be issued by the "csrsigning" controller in kube-controller-manager.  2.'
        ' "kubernetes.io/kube-apiserver-client-kubelet": issues client certificates that kubelets use to '
        'authenticate to kube-apiserver.   Requests for this signer can be auto-approved by the "csrapproving" '
        'controller in kube-controller-manager, and can be issued by the "csrsigning" controller in '
        'kube-controller-manager.  3. "kubernetes.io/kubelet-serving" issues serving certificates that kubelets '
        'use to serve TLS endpoints, which kube-apiserver can connect to securely.   Requests for this signer are'
        ' never auto-approved by kube-controller-manager, and can be issued by the "csrsigning" controller in '
        'kube-controller-manager.  More details are available at '
        'https://k8s.io/docs/reference/access-authn-authz/certificate-signing-requests/#kubernetes-signers  '
        'Custom signerNames can also be specified. The signer defines:  1. Trust distribution: how trust (CA '
        'bundles) are distributed.  2. Permitted subjects: and behavior when a disallowed subject is requested.  '
        '3. Required, permitted, or forbidden x509 extensions in the request (including whether subjectAltNames '
        'are allowed, which types, restrictions on allowed values) and behavior when a disallowed extension is '
        'requested.  4. Required, permitted, or forbidden key usages / extended key usages.  5. '
        'Expiration/certificate lifetime: whether it is fixed by the signer, configurable by the admin.  6. '
        'Whether or not requests for CA certificates are allowed.'
    ),
    'CertificateSigningRequestSpec.request': (
        'request contains an x509 certificate signing request encoded in a "CERTIFICATE REQUEST" PEM block. When '
        'serialized as JSON or YAML, the data is additionally base64-encoded.'
    ),
    'CertificateSigningRequestSpec.expirationSeconds': (
        'expirationSeconds is the requested duration of validity of the issued certificate. The certificate '
        'signer may issue a certificate with a different validity duration so a client must check the delta '
        'between the notBefore and and notAfter fields in the issued certificate to determine the actual '
        'duration.  The v1.22+ in-tree implementations of the well-known Kubernetes signers will honor this field'
        ' as long as the requested duration is not greater than the maximum duration they will honor per the '
        '--cluster-signing-duration CLI flag to the Kubernetes controller manager.  Certificate signers may not '
        'honor this field for various reasons:    1. Old signer that is unaware of the field (such as the in-tree'
        '      implementations prior to v1.22)   2. Signer whose configured maximum is shorter than the requested'
        ' duration   3. Signer whose configured minimum is longer than the requested duration  The minimum valid '
        'value for expirationSeconds is 600, i.e. 10 minutes.'
    ),
    'CertificateSigningRequestStatus.conditions': (
        'conditions applied to the request. Known conditions are "Approved", "Denied", and "Failed".'
    ),
    'LeaseSpec.holderIdentity': (
        'holderIdentity contains the identity of the holder of a current lease. If Coordinated Leader Election is'
        ' used, the holder identity must be equal to the elected LeaseCandidate.metadata.name field.'
    ),
    'StorageClass.provisioner': (
        'provisioner indicates the type of the provisioner.'
    ),
    'StorageClass.reclaimPolicy': (
        'reclaimPolicy controls the reclaimPolicy for dynamically provisioned PersistentVolumes of this storage '
        'class. Defaults to Delete.'
    ),
    'StorageClass.volumeBindingMode': (
        'volumeBindingMode indicates how PersistentVolumeClaims should be provisioned and bound.  When unset, '
        'VolumeBindingImmediate is used. This field is only honored by servers that enable the VolumeScheduling '
        'feature.'
    ),
    'StorageClass.allowVolumeExpansion': (
        'allowVolumeExpansion shows whether the storage class allow volume expand.'
    ),
    'ControllerRevision.revision': (
        'Revision indicates the revision of the state represented by Data.'
    ),
    'PriorityClass.value': (
        'value represents the integer value of this priority class. This is the actual priority that pods receive'
        ' when they have the name of this class in their pod spec.'
    ),
    'PriorityClass.globalDefault': (
        'globalDefault specifies whether this PriorityClass should be considered as the default priority for pods'
        ' that do not have any priority class. Only one PriorityClass can be marked as `globalDefault`. However, '
        'if more than one PriorityClasses exists with their `globalDefault` field set to true, the smallest value'
        ' of such global default PriorityClasses will be used as the default priority.'
    ),
    'PriorityClass.preemptionPolicy': (
        'preemptionPolicy is the Policy for preempting pods with lower priority. One of Never, '
        'PreemptLowerPriority. Defaults to PreemptLowerPriority if unset.'
    ),
    'EndpointSlice.addressType': (
        'addressType specifies the type of address carried by this EndpointSlice. All addresses in this slice '
        'must be the same type. This field is immutable after creation. The following address types are currently'
        ' supported: * IPv4: Represents an IPv4 Address. * IPv6: Represents an IPv6 Address. * FQDN: Represents a'
        ' Fully Qualified Domain Name. (Deprecated) The EndpointSlice controller only generates, and kube-proxy '
        'only processes, slices of addressType "IPv4" and "IPv6". No semantics are defined for the "FQDN" type.'
    ),
    'EndpointSlice.ports': (
        'ports specifies the list of network ports exposed by each endpoint in this slice. Each port must have a '
        'unique name. Each slice may include a maximum of 100 ports. Services always have at least 1 port, so '
        'EndpointSlices generated by the EndpointSlice controller will likewise always have at least 1 port. '
        'EndpointSlices used for other purposes may have an empty ports list.'
    ),
    'EndpointSlice.endpoints': (
        'endpoints is a list of unique endpoints in this slice. Each slice may include a maximum of 1000 '
        'endpoints.'
    ),
    "ReplicaSetSpec.selector": (
        "Selector is a label query over pods that should match the replica count. Label keys and values "
        "that must match in order to be controlled by this replica set. It must match the pod template's "
        "labels. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/"
        "#label-selectors"
    ),
    "DaemonSetSpec.selector": (
        "A label query over pods that are managed by the daemon set. Must match in order to be "
        "controlled. It must match the pod template's labels. More info: "
        "https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors"
    ),
    "JobSpec.selector": (
        "A label query over pods that should match the pod count. Normally, the system sets this field "
        "for you. More info: "
        "https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors"
    ),
    "Event.involvedObject": "The object that this event is about.",
    "Event.source": "The component reporting this event. Should be a short machine understandable string.",
    "PersistentVolumeSpec.claimRef": (
        "claimRef is part of a bi-directional binding between PersistentVolume and PersistentVolumeClaim. "
        "Expected to be non-nil when bound. claim.VolumeName is the authoritative bind between PV and PVC. "
        "More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#binding"
    ),
    "DeploymentSpec.selector": (
        "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones "
        "affected by this deployment. It must match the pod template's labels."
    ),
    "HorizontalPodAutoscalerSpec.scaleTargetRef": (
        "scaleTargetRef points to the target resource to scale, and is used to the pods for which metrics "
        "should be collected, as well as to actually change the replica count."
    ),
    "NetworkPolicySpec.podSelector": (
        "podSelector selects the pods to which this NetworkPolicy object applies. The array of rules is "
        "applied to any pods selected by this field. An empty selector matches all pods in the policy's "
        "namespace. Multiple network policies can select the same set of pods. In this case, the ingress "
        "rules for each are combined additively. This field is optional. If it is not specified, it "
        "defaults to an empty selector."
    ),
    "RoleBinding.roleRef": (
        "RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace. "
        "If the RoleRef cannot be resolved, the Authorizer must return an error. This field is immutable."
    ),
    "ClusterRoleBinding.roleRef": (
        "RoleRef can only reference a ClusterRole in the global namespace. If the RoleRef cannot be "
        "resolved, the Authorizer must return an error. This field is immutable."
    ),
}

_CONTAINERS_DOC: Final = "Names of each container in the template."
_IMAGES_DOC: Final = "Images referenced by each container in the template."


@dataclass(frozen=True, slots=True)
class _Column:
    name: str
    type: str
    description: str
    format: str = ""
    priority: int = 0

    def as_dict(self) -> Obj:
        # Field order and presence as metav1.TableColumnDefinition serializes (no omitempty).
        return {"name": self.name, "type": self.type, "format": self.format,
                "description": self.description, "priority": self.priority}


def _c(name: str, type_: str, doc: str, *, fmt: str = "", priority: int = 0) -> _Column:
    """A column whose description is either a _DOC key or literal text."""
    return _Column(name=name, type=type_, description=_DOC.get(doc, doc), format=fmt, priority=priority)


_NAME: Final = _c("Name", "string", "ObjectMeta.name", fmt="name")
_AGE: Final = _c("Age", "string", "ObjectMeta.creationTimestamp")
_CONTAINERS: Final = _c("Containers", "string", _CONTAINERS_DOC, priority=1)
_IMAGES: Final = _c("Images", "string", _IMAGES_DOC, priority=1)

# rest.NewDefaultTableConvertor
_DEFAULT_COLUMNS: Final = (
    _NAME,
    _c("Created At", "date", "ObjectMeta.creationTimestamp"),
)

_POD_COLUMNS: Final = (
    _NAME,
    _c("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
    _c("Status", "string", "The aggregate status of the containers in this pod."),
    _c("Restarts", "string", "The number of times the containers in this pod have been restarted and when "
       "the last container in this pod has restarted."),
    _AGE,
    _c("IP", "string", "PodStatus.podIP", priority=1),
    _c("Node", "string", "PodSpec.nodeName", priority=1),
    _c("Nominated Node", "string", "PodStatus.nominatedNodeName", priority=1),
    _c("Readiness Gates", "string", "PodSpec.readinessGates", priority=1),
)

_POD_TEMPLATE_COLUMNS: Final = (
    _NAME,
    _c("Containers", "string", _CONTAINERS_DOC),
    _c("Images", "string", _IMAGES_DOC),
    _c("Pod Labels", "string", "The labels for the pod template."),
)

_PDB_COLUMNS: Final = (
    _NAME,
    _c("Min Available", "string", "The minimum number of pods that must be available."),
    _c("Max Unavailable", "string", "The maximum number of pods that may be unavailable."),
    _c("Allowed Disruptions", "integer", "Calculated number of pods that may be disrupted at this time."),
    _AGE,
)

_RC_COLUMNS: Final = (
    _NAME,
    _c("Desired", "integer", "ReplicationControllerSpec.replicas"),
    _c("Current", "integer", "ReplicationControllerStatus.replicas"),
    _c("Ready", "integer", "ReplicationControllerStatus.readyReplicas"),
    _AGE,
    _CONTAINERS,
    _IMAGES,
    _c("Selector", "string", "ReplicationControllerSpec.selector", priority=1),
)

_REPLICA_SET_COLUMNS: Final = (
    _NAME,
    _c("Desired", "integer", "ReplicaSetSpec.replicas"),
    _c("Current", "integer", "ReplicaSetStatus.replicas"),
    _c("Ready", "integer", "ReplicaSetStatus.readyReplicas"),
    _AGE,
    _CONTAINERS,
    _IMAGES,
    _c("Selector", "string", "ReplicaSetSpec.selector", priority=1),
)

_DAEMON_SET_COLUMNS: Final = (
    _NAME,
    _c("Desired", "integer", "DaemonSetStatus.desiredNumberScheduled"),
    _c("Current", "integer", "DaemonSetStatus.currentNumberScheduled"),
    _c("Ready", "integer", "DaemonSetStatus.numberReady"),
    _c("Up-to-date", "integer", "DaemonSetStatus.updatedNumberScheduled"),
    _c("Available", "integer", "DaemonSetStatus.numberAvailable"),
    _c("Node Selector", "string", "PodSpec.nodeSelector"),
    _AGE,
    _CONTAINERS,
    _IMAGES,
    _c("Selector", "string", "DaemonSetSpec.selector", priority=1),
)

_JOB_COLUMNS: Final = (
    _NAME,
    _c("Status", "string", "Status of the job."),
    _c("Completions", "string", "JobStatus.succeeded"),
    _c("Duration", "string", "Time required to complete the job."),
    _AGE,
    _CONTAINERS,
    _IMAGES,
    _c("Selector", "string", "JobSpec.selector", priority=1),
)

_CRON_JOB_COLUMNS: Final = (
    _NAME,
    _c("Schedule", "string", "CronJobSpec.schedule"),
    _c("Timezone", "string", "CronJobSpec.timeZone"),
    _c("Suspend", "boolean", "CronJobSpec.suspend"),
    _c("Active", "integer", "CronJobStatus.active"),
    _c("Last Schedule", "string", "CronJobStatus.lastScheduleTime"),
    _AGE,
    _CONTAINERS,
    _IMAGES,
    _c("Selector", "string", "JobSpec.selector", priority=1),
)

_SERVICE_COLUMNS: Final = (
    _NAME,
    _c("Type", "string", "ServiceSpec.type"),
    _c("Cluster-IP", "string", "ServiceSpec.clusterIP"),
    _c("External-IP", "string", "ServiceSpec.externalIPs"),
    _c("Port(s)", "string", "ServiceSpec.ports"),
    _AGE,
    _c("Selector", "string", "ServiceSpec.selector", priority=1),
)

_INGRESS_COLUMNS: Final = (
    _NAME,
    _c("Class", "string", "The name of the IngressClass resource that should be used for additional "
       "configuration"),
    _c("Hosts", "string", "Hosts that incoming requests are matched against before the ingress rule"),
    _c("Address", "string", "Address is a list containing ingress points for the load-balancer"),
    _c("Ports", "string", "Ports of TLS configurations that open"),
    _AGE,
)

_INGRESS_CLASS_COLUMNS: Final = (
    _NAME,
    _c("Controller", "string", "Controller that is responsible for handling this class"),
    _c("Parameters", "string", "A reference to a resource with additional parameters"),
    _AGE,
)

_STATEFUL_SET_COLUMNS: Final = (
    _NAME,
    _c("Ready", "string", "Number of the pod with ready state"),
    _AGE,
    _CONTAINERS,
    _IMAGES,
)

_ENDPOINTS_COLUMNS: Final = (
    _NAME,
    _c("Endpoints", "string", "Endpoints.subsets"),
    _AGE,
)

_NODE_COLUMNS: Final = (
    _NAME,
    _c("Status", "string", "The status of the node"),
    _c("Roles", "string", "The roles of the node"),
    _AGE,
    _c("Version", "string", "NodeSystemInfo.kubeletVersion"),
    _c("Internal-IP", "string", "NodeStatus.addresses", priority=1),
    _c("External-IP", "string", "NodeStatus.addresses", priority=1),
    _c("OS-Image", "string", "NodeSystemInfo.osImage", priority=1),
    _c("Kernel-Version", "string", "NodeSystemInfo.kernelVersion", priority=1),
    _c("Container-Runtime", "string", "NodeSystemInfo.containerRuntimeVersion", priority=1),
)

_EVENT_COLUMNS: Final = (
    _c("Last Seen", "string", "Event.lastTimestamp"),
    _c("Type", "string", "Event.type"),
    _c("Reason", "string", "Event.reason"),
    _c("Object", "string", "Event.involvedObject"),
    _c("Subobject", "string", "ObjectReference.fieldPath", priority=1),
    _c("Source", "string", "Event.source", priority=1),
    _c("Message", "string", "Event.message"),
    _c("First Seen", "string", "Event.firstTimestamp", priority=1),
    _c("Count", "string", "Event.count", priority=1),
    _c("Name", "string", "ObjectMeta.name", fmt="name", priority=1),
)

_NAMESPACE_COLUMNS: Final = (
    _NAME,
    _c("Status", "string", "The status of the namespace"),
    _AGE,
)

_SECRET_COLUMNS: Final = (
    _NAME,
    _c("Type", "string", "Secret.type"),
    _c("Data", "string", "Secret.data"),
    _AGE,
)

_SERVICE_ACCOUNT_COLUMNS: Final = (
    _NAME,
    _c("Secrets", "string", "ServiceAccount.secrets"),
    _AGE,
)

_PV_COLUMNS: Final = (
    _NAME,
    _c("Capacity", "string", "PersistentVolumeSpec.capacity"),
    _c("Access Modes", "string", "PersistentVolumeSpec.accessModes"),
    _c("Reclaim Policy", "string", "PersistentVolumeSpec.persistentVolumeReclaimPolicy"),
    _c("Status", "string", "PersistentVolumeStatus.phase"),
    _c("Claim", "string", "PersistentVolumeSpec.claimRef"),
    _c("StorageClass", "string", "StorageClass of the pv"),
    _c("VolumeAttributesClass", "string", "VolumeAttributesClass of the pv"),
    _c("Reason", "string", "PersistentVolumeStatus.reason"),
    _AGE,
    _c("VolumeMode", "string", "PersistentVolumeSpec.volumeMode", priority=1),
)

_PVC_COLUMNS: Final = (
    _NAME,
    _c("Status", "string", "PersistentVolumeClaimStatus.phase"),
    _c("Volume", "string", "PersistentVolumeClaimSpec.volumeName"),
    _c("Capacity", "string", "PersistentVolumeClaimStatus.capacity"),
    _c("Access Modes", "string", "PersistentVolumeClaimStatus.accessModes"),
    _c("StorageClass", "string", "StorageClass of the pvc"),
    _c("VolumeAttributesClass", "string", "VolumeAttributesClass of the pvc"),
    _AGE,
    _c("VolumeMode", "string", "PersistentVolumeClaimSpec.volumeMode", priority=1),
)

_DEPLOYMENT_COLUMNS: Final = (
    _NAME,
    _c("Ready", "string", "Number of the pod with ready state"),
    _c("Up-to-date", "string", "DeploymentStatus.updatedReplicas"),
    _c("Available", "string", "DeploymentStatus.availableReplicas"),
    _AGE,
    _CONTAINERS,
    _IMAGES,
    _c("Selector", "string", "DeploymentSpec.selector", priority=1),
)

_HPA_COLUMNS: Final = (
    _NAME,
    _c("Reference", "string", "HorizontalPodAutoscalerSpec.scaleTargetRef"),
    _c("Targets", "string", "HorizontalPodAutoscalerSpec.metrics"),
    _c("MinPods", "string", "HorizontalPodAutoscalerSpec.minReplicas"),
    _c("MaxPods", "string", "HorizontalPodAutoscalerSpec.maxReplicas"),
    _c("Replicas", "string", "HorizontalPodAutoscalerStatus.currentReplicas"),
    _AGE,
)

_CONFIG_MAP_COLUMNS: Final = (
    _NAME,
    _c("Data", "string", "ConfigMap.data"),
    _AGE,
)

_NETWORK_POLICY_COLUMNS: Final = (
    _NAME,
    _c("Pod-Selector", "string", "NetworkPolicySpec.podSelector"),
    _AGE,
)

_ROLE_BINDING_COLUMNS: Final = (
    _NAME,
    _c("Role", "string", "RoleBinding.roleRef"),
    _AGE,
    _c("Users", "string", "Users in the roleBinding", priority=1),
    _c("Groups", "string", "Groups in the roleBinding", priority=1),
    _c("ServiceAccounts", "string", "ServiceAccounts in the roleBinding", priority=1),
)

_CLUSTER_ROLE_BINDING_COLUMNS: Final = (
    _NAME,
    _c("Role", "string", "ClusterRoleBinding.roleRef"),
    _AGE,
    _c("Users", "string", "Users in the clusterRoleBinding", priority=1),
    _c("Groups", "string", "Groups in the clusterRoleBinding", priority=1),
    _c("ServiceAccounts", "string", "ServiceAccounts in the clusterRoleBinding", priority=1),
)

_CSR_COLUMNS: Final = (
    _NAME,
    _AGE,
    _c("SignerName", "string", "CertificateSigningRequestSpec.signerName"),
    _c("Requestor", "string", "CertificateSigningRequestSpec.request"),
    _c("RequestedDuration", "string", "CertificateSigningRequestSpec.expirationSeconds"),
    _c("Condition", "string", "CertificateSigningRequestStatus.conditions"),
)

_LEASE_COLUMNS: Final = (
    _NAME,
    _c("Holder", "string", "LeaseSpec.holderIdentity"),
    _AGE,
)

_STORAGE_CLASS_COLUMNS: Final = (
    _NAME,
    _c("Provisioner", "string", "StorageClass.provisioner"),
    _c("ReclaimPolicy", "string", "StorageClass.reclaimPolicy"),
    _c("VolumeBindingMode", "string", "StorageClass.volumeBindingMode"),
    _c("AllowVolumeExpansion", "string", "StorageClass.allowVolumeExpansion"),
    _AGE,
)

_CONTROLLER_REVISION_COLUMNS: Final = (
    _NAME,
    _c("Controller", "string", "Controller of the object"),
    _c("Revision", "string", "ControllerRevision.revision"),
    _AGE,
)

_RESOURCE_QUOTA_COLUMNS: Final = (
    _NAME,
    _c("Request", "string", "Request represents a minimum amount of cpu/memory that a container may consume."),
    _c("Limit", "string", "Limits control the maximum amount of cpu/memory that a container may use "
       "independent of contention on the node."),
    _AGE,
)

_PRIORITY_CLASS_COLUMNS: Final = (
    _NAME,
    _c("Value", "integer", "PriorityClass.value"),
    _c("Global-Default", "boolean", "PriorityClass.globalDefault"),
    _AGE,
    _c("PreemptionPolicy", "string", "PriorityClass.preemptionPolicy"),
)

# Upstream reads "handler" from ObjectMeta's SwaggerDoc, which has no such key: the description is "".
_RUNTIME_CLASS_COLUMNS: Final = (
    _NAME,
    _Column(name="Handler", type="string", description=""),
    _AGE,
)

_ENDPOINT_SLICE_COLUMNS: Final = (
    _NAME,
    _c("AddressType", "string", "EndpointSlice.addressType"),
    _c("Ports", "string", "EndpointSlice.ports"),
    _c("Endpoints", "string", "EndpointSlice.endpoints"),
    _AGE,
)

_WEBHOOK_COLUMNS: Final = (
    _NAME,
    _c("Webhooks", "integer", "Webhooks indicates the number of webhooks registered in this configuration"),
    _AGE,
)


# ---------------------------------------------------------------------------------------------
# Row printers: one per resource, each a port of the matching printX in printers.go
# ---------------------------------------------------------------------------------------------

_NO_CONDITIONS: Final[list[dict[str, str]]] = []


def _pod_row_conditions(phase: str) -> list[dict[str, str]]:
    # podSuccessConditions / podFailedConditions: lets clients tell finished pods apart.
    if phase == "Succeeded":
        return [{"type": "Completed", "status": "True", "reason": "Succeeded",
                 "message": "The pod has completed successfully."}]
    if phase == "Failed":
        return [{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}]
    return []


def _is_restartable_init_container(container: Obj | None) -> bool:
    """``podutil.IsRestartableInitContainer``: a sidecar is an init container with restartPolicy Always."""
    return container is not None and _s(container, "restartPolicy") == "Always"


def _last_terminated_at(status: Obj) -> datetime | None:
    terminated = _opt(_m(status, "lastState"), "terminated")
    return None if terminated is None else _time(terminated.get("finishedAt"))


def _condition_true(conditions: list[Obj], condition_type: str) -> bool:
    """True when a condition of this type has status True (any of them, as hasPodReadyCondition)."""
    return any(_s(c, "type") == condition_type and _s(c, "status") == "True" for c in conditions)


def _first_condition_true(conditions: list[Obj], condition_type: str) -> bool:
    """The first condition of this type decides (isPodInitializedConditionTrue, hasJobCondition)."""
    for condition in conditions:
        if _s(condition, "type") == condition_type:
            return _s(condition, "status") == "True"
    return False


def _pod_row(pod: Obj, now: datetime) -> Row:
    """``printPod``: READY, STATUS (the reason logic), RESTARTS with the last restart's age."""
    meta, spec, status = _m(pod, "metadata"), _m(pod, "spec"), _m(pod, "status")
    restarts = 0
    restartable_init_restarts = 0
    total = len(_l(spec, "containers"))
    ready = 0
    last_restart = ZERO_TIME
    last_restartable_init_restart = ZERO_TIME

    phase = _s(status, "phase")
    reason = _s(status, "reason") or phase
    conditions = _ml(status, "conditions")
    for condition in conditions:
        if _s(condition, "type") == "PodScheduled" and _s(condition, "reason") == "SchedulingGated":
            reason = "SchedulingGated"

    init_specs: dict[str, Obj] = {}
    init_containers = _ml(spec, "initContainers")
    for container in init_containers:
        init_specs[_s(container, "name")] = container
        if _is_restartable_init_container(container):
            total += 1

    initializing = False
    for index, container_status in enumerate(_ml(status, "initContainerStatuses")):
        count = _i(container_status, "restartCount")
        restarts += count
        finished = _last_terminated_at(container_status)
        if finished is not None and last_restart < finished:
            last_restart = finished
        restartable = _is_restartable_init_container(init_specs.get(_s(container_status, "name")))
        if restartable:
            restartable_init_restarts += count
            if finished is not None and last_restartable_init_restart < finished:
                last_restartable_init_restart = finished
        state = _m(container_status, "state")
        terminated = _opt(state, "terminated")
        waiting = _opt(state, "waiting")
        if terminated is not None and _i(terminated, "exitCode") == 0:
            continue
        if restartable and _b(container_status, "started"):
            if _b(container_status, "ready"):
                ready += 1
            continue
        if terminated is not None:
            # Initialization failed.
            if not _s(terminated, "reason"):
                signal = _i(terminated, "signal")
                reason = (f"Init:Signal:{signal}" if signal != 0
                          else f"Init:ExitCode:{_i(terminated, 'exitCode')}")
            else:
                reason = "Init:" + _s(terminated, "reason")
        elif waiting is not None and _s(waiting, "reason") and _s(waiting, "reason") != "PodInitializing":
            reason = "Init:" + _s(waiting, "reason")
        else:
            reason = f"Init:{index}/{len(init_containers)}"
        initializing = True
        break

    if not initializing or _first_condition_true(conditions, "Initialized"):
        restarts = restartable_init_restarts
        last_restart = last_restartable_init_restart
        has_running = False
        for container_status in reversed(_ml(status, "containerStatuses")):
            restarts += _i(container_status, "restartCount")
            finished = _last_terminated_at(container_status)
            if finished is not None and last_restart < finished:
                last_restart = finished
            state = _m(container_status, "state")
            terminated = _opt(state, "terminated")
            waiting = _opt(state, "waiting")
            if waiting is not None and _s(waiting, "reason"):
                reason = _s(waiting, "reason")
            elif terminated is not None and _s(terminated, "reason"):
                reason = _s(terminated, "reason")
            elif terminated is not None:
                signal = _i(terminated, "signal")
                reason = f"Signal:{signal}" if signal != 0 else f"ExitCode:{_i(terminated, 'exitCode')}"
            elif _b(container_status, "ready") and _opt(state, "running") is not None:
                has_running = True
                ready += 1
        # A pod whose last container completed while another still runs is not "Completed".
        if reason == "Completed" and has_running:
            reason = "Running" if _condition_true(conditions, "Ready") else "NotReady"

    if _has(meta, "deletionTimestamp") and _s(status, "reason") == "NodeLost":
        reason = "Unknown"
    elif _has(meta, "deletionTimestamp") and phase not in ("Failed", "Succeeded"):
        reason = "Terminating"

    restarts_text = str(restarts)
    if restarts != 0 and not _is_zero(last_restart):
        restarts_text = f"{restarts} ({translate_timestamp_since(last_restart, now=now)} ago)"

    pod_ips = _ml(status, "podIPs")
    # v1 -> internal conversion fills PodIPs from the singular podIP when only that is set.
    pod_ip = _s(pod_ips[0], "ip") if pod_ips else _s(status, "podIP")
    readiness_gates = _ml(spec, "readinessGates")
    gates_text = "<none>"
    if readiness_gates:
        true_conditions = 0
        for gate in readiness_gates:
            for condition in conditions:
                if _s(condition, "type") == _s(gate, "conditionType"):
                    if _s(condition, "status") == "True":
                        true_conditions += 1
                    break
        gates_text = f"{true_conditions}/{len(readiness_gates)}"
    cells: list[Any] = [
        _s(meta, "name"), f"{ready}/{total}", reason, restarts_text, _age(pod, now),
        pod_ip or "<none>", _s(spec, "nodeName") or "<none>", _s(status, "nominatedNodeName") or "<none>",
        gates_text,
    ]
    return cells, _pod_row_conditions(phase)


def _pod_template_row(obj: Obj, now: datetime) -> Row:
    template = _m(obj, "template")
    names, images = _container_cells(_ml(_m(template, "spec"), "containers"))
    return [_name(obj), names, images, _format_labels(_str_map(_m(template, "metadata"), "labels"))], _NO_CONDITIONS


def _pdb_row(obj: Obj, now: datetime) -> Row:
    spec = _m(obj, "spec")
    min_available = _int_or_string(spec["minAvailable"]) if _has(spec, "minAvailable") else "N/A"
    max_unavailable = _int_or_string(spec["maxUnavailable"]) if _has(spec, "maxUnavailable") else "N/A"
    return [_name(obj), min_available, max_unavailable, _i(_m(obj, "status"), "disruptionsAllowed"),
            _age(obj, now)], _NO_CONDITIONS


def _rc_row(obj: Obj, now: datetime) -> Row:
    spec, status = _m(obj, "spec"), _m(obj, "status")
    template = _opt(spec, "template")
    names, images = _container_cells(_ml(_m(template, "spec"), "containers") if template else [])
    return [_name(obj), _i(spec, "replicas", 1), _i(status, "replicas"), _i(status, "readyReplicas"),
            _age(obj, now), names, images, _format_labels(_str_map(spec, "selector"))], _NO_CONDITIONS


def _replica_set_row(obj: Obj, now: datetime) -> Row:
    spec, status = _m(obj, "spec"), _m(obj, "status")
    names, images = _container_cells(_template_containers(obj))
    return [_name(obj), _i(spec, "replicas", 1), _i(status, "replicas"), _i(status, "readyReplicas"),
            _age(obj, now), names, images, _format_label_selector(_opt(spec, "selector"))], _NO_CONDITIONS


def _daemon_set_row(obj: Obj, now: datetime) -> Row:
    spec, status = _m(obj, "spec"), _m(obj, "status")
    names, images = _container_cells(_template_containers(obj))
    node_selector = _str_map(_m(_m(spec, "template"), "spec"), "nodeSelector")
    return [_name(obj), _i(status, "desiredNumberScheduled"), _i(status, "currentNumberScheduled"),
            _i(status, "numberReady"), _i(status, "updatedNumberScheduled"), _i(status, "numberAvailable"),
            _format_labels(node_selector), _age(obj, now), names, images,
            _format_label_selector(_opt(spec, "selector"))], _NO_CONDITIONS


def _job_row(obj: Obj, now: datetime) -> Row:
    spec, status = _m(obj, "spec"), _m(obj, "status")
    succeeded = _i(status, "succeeded")
    completions = _opt_i(spec, "completions")
    if completions is not None:
        completions_text = f"{succeeded}/{completions}"
    else:
        parallelism = _opt_i(spec, "parallelism") or 0
        completions_text = f"{succeeded}/1 of {parallelism}" if parallelism > 1 else f"{succeeded}/1"
    duration = ""
    if _has(status, "startTime"):
        start = _time(status["startTime"])
        end = _time(status["completionTime"]) if _has(status, "completionTime") else _utc(now)
        duration = human_duration(end - start)
    conditions = _ml(status, "conditions")
    if _first_condition_true(conditions, "Complete"):
        job_status = "Complete"
    elif _first_condition_true(conditions, "Failed"):
        job_status = "Failed"
    elif _has(_m(obj, "metadata"), "deletionTimestamp"):
        job_status = "Terminating"
    elif _first_condition_true(conditions, "Suspended"):
        job_status = "Suspended"
    elif _first_condition_true(conditions, "FailureTarget"):
        job_status = "FailureTarget"
    else:
        job_status = "Running"
    names, images = _container_cells(_template_containers(obj))
    return [_name(obj), job_status, completions_text, duration, _age(obj, now), names, images,
            _format_label_selector(_opt(spec, "selector"))], _NO_CONDITIONS


def _cron_job_row(obj: Obj, now: datetime) -> Row:
    spec, status = _m(obj, "spec"), _m(obj, "status")
    last_schedule = "<none>"
    if _has(status, "lastScheduleTime"):
        last_schedule = translate_timestamp_since(status["lastScheduleTime"], now=now)
    suspend = _opt_b(spec, "suspend")
    job_spec = _m(_m(spec, "jobTemplate"), "spec")
    names, images = _container_cells(_ml(_m(_m(job_spec, "template"), "spec"), "containers"))
    return [_name(obj), _s(spec, "schedule"), _ptr_s(spec, "timeZone", "<none>"),
            "<unset>" if suspend is None else _go_bool(suspend), len(_l(status, "active")), last_schedule,
            _age(obj, now), names, images, _format_label_selector(_opt(job_spec, "selector"))], _NO_CONDITIONS


def _load_balancer_addresses(load_balancer: Obj) -> str:
    """``loadBalancerStatusStringer`` with wide=true (the server never clips): sorted unique IPs/hosts."""
    found: set[str] = set()
    for ingress in _ml(load_balancer, "ingress"):
        if _s(ingress, "ip"):
            found.add(_s(ingress, "ip"))
        elif _s(ingress, "hostname"):
            found.add(_s(ingress, "hostname"))
    return ",".join(sorted(found))


def _service_external_ip(spec: Obj, status: Obj) -> str:
    external_ips = [str(ip) for ip in _l(spec, "externalIPs")]
    service_type = _service_type(spec)
    if service_type in ("ClusterIP", "NodePort"):
        return ",".join(external_ips) if external_ips else "<none>"
    if service_type == "LoadBalancer":
        lb_ips = _load_balancer_addresses(_m(status, "loadBalancer"))
        if external_ips:
            return ",".join(([*lb_ips.split(",")] if lb_ips else []) + external_ips)
        return lb_ips or "<pending>"
    if service_type == "ExternalName":
        return _s(spec, "externalName")
    return "<unknown>"


def _service_type(spec: Obj) -> str:
    # Defaulting makes every stored Service's type explicit; an undefaulted one is a ClusterIP Service.
    return _ptr_s(spec, "type", "ClusterIP")


def _service_ports(ports: list[Obj]) -> str:
    pieces = []
    for port in ports:
        # Defaulting makes the protocol TCP on every stored port; an undefaulted one reads the same.
        protocol = _s(port, "protocol") or "TCP"
        node_port = _i(port, "nodePort")
        if node_port > 0:
            pieces.append(f"{_i(port, 'port')}:{node_port}/{protocol}")
        else:
            pieces.append(f"{_i(port, 'port')}/{protocol}")
    return ",".join(pieces)


def _service_row(obj: Obj, now: datetime) -> Row:
    spec, status = _m(obj, "spec"), _m(obj, "status")
    cluster_ips = _l(spec, "clusterIPs")
    # v1 -> internal conversion fills ClusterIPs from the singular clusterIP when only that is set.
    internal_ip = str(cluster_ips[0]) if cluster_ips else (_s(spec, "clusterIP") or "<none>")
    ports = _service_ports(_ml(spec, "ports")) or "<none>"
    return [_name(obj), _service_type(spec), internal_ip, _service_external_ip(spec, status), ports,
            _age(obj, now), _format_labels(_str_map(spec, "selector"))], _NO_CONDITIONS


def _ingress_hosts(rules: list[Obj]) -> str:
    """``formatHosts``: at most three hosts, "*" when no rule names one."""
    hosts: list[str] = []
    limit = 3
    more = False
    for rule in rules:
        if len(hosts) == limit:
            more = True
        if not more and _s(rule, "host"):
            hosts.append(_s(rule, "host"))
    if not hosts:
        return "*"
    text = ",".join(hosts)
    return f"{text} + {len(rules) - limit} more..." if more else text


def _ingress_row(obj: Obj, now: datetime) -> Row:
    spec = _m(obj, "spec")
    class_name = _opt_s(spec, "ingressClassName")
    ports = "80, 443" if _l(spec, "tls") else "80"
    address = _load_balancer_addresses(_m(_m(obj, "status"), "loadBalancer"))
    return [_name(obj), "<none>" if class_name is None else class_name, _ingress_hosts(_ml(spec, "rules")),
            address, ports, _age(obj, now)], _NO_CONDITIONS


def _ingress_class_row(obj: Obj, now: datetime) -> Row:
    spec = _m(obj, "spec")
    parameters = "<none>"
    reference = _opt(spec, "parameters")
    if reference is not None:
        parameters = _s(reference, "kind")
        api_group = _opt_s(reference, "apiGroup")
        if api_group is not None:
            parameters += "." + api_group
        parameters += "/" + _s(reference, "name")
    return [_name(obj), _s(spec, "controller"), parameters, _age(obj, now)], _NO_CONDITIONS


def _stateful_set_row(obj: Obj, now: datetime) -> Row:
    spec, status = _m(obj, "spec"), _m(obj, "status")
    names, images = _container_cells(_template_containers(obj))
    return [_name(obj), f"{_i(status, 'readyReplicas')}/{_i(spec, 'replicas', 1)}", _age(obj, now), names,
            images], _NO_CONDITIONS


def _format_endpoints(subsets: list[Obj]) -> str:
    """``formatEndpoints`` with all ports: up to three ip:port pairs, then "+ N more..."."""
    if not subsets:
        return "<none>"
    found: list[str] = []
    limit = 3
    more = False
    count = 0
    for subset in subsets:
        addresses = _ml(subset, "addresses")
        ports = _ml(subset, "ports")
        if not ports:
            # Headless services may have no ports.
            count += len(addresses)
            for address in addresses:
                if len(found) == limit:
                    more = True
                    break
                found.append(_s(address, "ip"))
            continue
        for port in ports:
            count += len(addresses)
            for address in addresses:
                if len(found) == limit:
                    more = True
                    break
                found.append(_join_host_port(_s(address, "ip"), _i(port, "port")))
    text = ",".join(found)
    return f"{text} + {count - limit} more..." if more else text


def _endpoints_row(obj: Obj, now: datetime) -> Row:
    return [_name(obj), _format_endpoints(_ml(obj, "subsets")), _age(obj, now)], _NO_CONDITIONS


def _endpoint_slice_row(obj: Obj, now: datetime) -> Row:
    limit = 3
    ports: list[str] = []
    more_ports = False
    for port in _ml(obj, "ports"):
        if len(ports) < limit:
            number = _opt_i(port, "port")
            name = _opt_s(port, "name")
            ports.append(str(number) if number is not None else name if name is not None else "*")
        elif len(ports) == limit:
            more_ports = True
    addresses: list[str] = []
    more_addresses = False
    address_count = 0
    for endpoint in _ml(obj, "endpoints"):
        for address in _l(endpoint, "addresses"):
            if len(addresses) < limit:
                addresses.append(str(address))
            elif len(addresses) == limit:
                more_addresses = True
            address_count += 1
    return [_name(obj), _s(obj, "addressType"),
            _list_with_more(ports, more=more_ports, count=len(_l(obj, "ports")), limit=limit),
            _list_with_more(addresses, more=more_addresses, count=address_count, limit=limit),
            _age(obj, now)], _NO_CONDITIONS


def _node_roles(labels: Mapping[str, str]) -> list[str]:
    """``findNodeRoles``: node-role.kubernetes.io/<role> keys and the kubernetes.io/role value."""
    roles: set[str] = set()
    for key, value in labels.items():
        if key.startswith("node-role.kubernetes.io/"):
            role = key.removeprefix("node-role.kubernetes.io/")
            if role:
                roles.add(role)
        elif key == "kubernetes.io/role" and value:
            roles.add(value)
    return sorted(roles)


def _node_address(status: Obj, address_type: str) -> str:
    for address in _ml(status, "addresses"):
        if _s(address, "type") == address_type:
            return _s(address, "address")
    return "<none>"


def _node_row(obj: Obj, now: datetime) -> Row:
    spec, status = _m(obj, "spec"), _m(obj, "status")
    ready: Obj | None = None
    for condition in _ml(status, "conditions"):
        if _s(condition, "type") == "Ready":
            ready = condition  # the last Ready condition wins, as in upstream's map
    states = [] if ready is None else ["Ready" if _s(ready, "status") == "True" else "NotReady"]
    if not states:
        states = ["Unknown"]
    if _b(spec, "unschedulable"):
        states.append("SchedulingDisabled")
    roles = ",".join(_node_roles(_str_map(_m(obj, "metadata"), "labels"))) or "<none>"
    info = _m(status, "nodeInfo")
    return [_name(obj), ",".join(states), roles, _age(obj, now), _s(info, "kubeletVersion"),
            _node_address(status, "InternalIP"), _node_address(status, "ExternalIP"),
            _s(info, "osImage") or "<unknown>", _s(info, "kernelVersion") or "<unknown>",
            _s(info, "containerRuntimeVersion") or "<unknown>"], _NO_CONDITIONS


def _access_modes(modes: list[Any]) -> str:
    """``helper.GetAccessModesAsString``: fixed order, duplicates collapsed."""
    present = {str(mode) for mode in modes}
    short = [("ReadWriteOnce", "RWO"), ("ReadOnlyMany", "ROX"), ("ReadWriteMany", "RWX"),
             ("ReadWriteOncePod", "RWOP")]
    return ",".join(abbreviation for mode, abbreviation in short if mode in present)


_BETA_STORAGE_CLASS_ANNOTATION: Final = "volume.beta.kubernetes.io/storage-class"


def _pv_row(obj: Obj, now: datetime) -> Row:
    meta, spec, status = _m(obj, "metadata"), _m(obj, "spec"), _m(obj, "status")
    claim = ""
    claim_ref = _opt(spec, "claimRef")
    if claim_ref is not None:
        claim = _s(claim_ref, "namespace") + "/" + _s(claim_ref, "name")
    phase = "Terminating" if _has(meta, "deletionTimestamp") else _s(status, "phase")
    annotations = _str_map(meta, "annotations")
    storage_class = annotations.get(_BETA_STORAGE_CLASS_ANNOTATION, _s(spec, "storageClassName"))
    return [_name(obj), _quantity(_m(spec, "capacity").get("storage")), _access_modes(_l(spec, "accessModes")),
            _s(spec, "persistentVolumeReclaimPolicy"), phase, claim, storage_class,
            _ptr_s(spec, "volumeAttributesClassName", "<unset>"), _s(status, "reason"), _age(obj, now),
            _ptr_s(spec, "volumeMode", "<unset>")], _NO_CONDITIONS


def _pvc_row(obj: Obj, now: datetime) -> Row:
    meta, spec, status = _m(obj, "metadata"), _m(obj, "spec"), _m(obj, "status")
    phase = "Terminating" if _has(meta, "deletionTimestamp") else _s(status, "phase")
    capacity = ""
    access_modes = ""
    # Capacity and modes are only meaningful once bound.
    if _s(spec, "volumeName"):
        access_modes = _access_modes(_l(status, "accessModes"))
        capacity = _quantity(_m(status, "capacity").get("storage"))
    annotations = _str_map(meta, "annotations")
    if _BETA_STORAGE_CLASS_ANNOTATION in annotations:
        storage_class = annotations[_BETA_STORAGE_CLASS_ANNOTATION]
    else:
        storage_class = _s(spec, "storageClassName")
    return [_name(obj), phase, _s(spec, "volumeName"), capacity, access_modes, storage_class,
            _ptr_s(spec, "volumeAttributesClassName", "<unset>"), _age(obj, now),
            _ptr_s(spec, "volumeMode", "<unset>")], _NO_CONDITIONS


def _event_source(source: Obj, reporting_controller: str, reporting_instance: str) -> str:
    component = _s(source, "component") or reporting_controller
    instance = _s(source, "host") or reporting_instance
    return component if not instance else f"{component}, {instance}"


def _as_core_event(obj: Obj) -> Obj:
    """events.k8s.io/v1 fields under their core/v1 names (both are served by the same storage)."""
    if not (_s(obj, "apiVersion").startswith("events.k8s.io/") or "regarding" in obj or "note" in obj):
        return obj
    return {
        "metadata": _m(obj, "metadata"),
        "involvedObject": _m(obj, "regarding"),
        "reason": _s(obj, "reason"),
        "message": _s(obj, "note"),
        "type": _s(obj, "type"),
        "source": _m(obj, "deprecatedSource"),
        "firstTimestamp": obj.get("deprecatedFirstTimestamp"),
        "lastTimestamp": obj.get("deprecatedLastTimestamp"),
        "count": _i(obj, "deprecatedCount"),
        "eventTime": obj.get("eventTime"),
        "series": _opt(obj, "series"),
        "reportingComponent": _s(obj, "reportingController"),
        "reportingInstance": _s(obj, "reportingInstance"),
    }


def _event_row(obj: Obj, now: datetime) -> Row:
    event = _as_core_event(obj)
    first = translate_timestamp_since(event.get("firstTimestamp"), now=now)
    if _is_zero(_time(event.get("firstTimestamp"))):
        first = translate_timestamp_since(event.get("eventTime"), now=now)
    last = translate_timestamp_since(event.get("lastTimestamp"), now=now)
    if _is_zero(_time(event.get("lastTimestamp"))):
        last = first
    count = _i(event, "count")
    series = _opt(event, "series")
    if series is not None:
        last = translate_timestamp_since(series.get("lastObservedTime"), now=now)
        count = _i(series, "count")
    elif count == 0:
        # Singleton events don't have a count set in the new API.
        count = 1
    involved = _m(event, "involvedObject")
    kind = _s(involved, "kind").lower()
    target = f"{kind}/{_s(involved, 'name')}" if _s(involved, "name") else kind
    source = _event_source(_m(event, "source"), _s(event, "reportingComponent"), _s(event, "reportingInstance"))
    return [last, _s(event, "type"), _s(event, "reason"), target, _s(involved, "fieldPath"), source,
            _s(event, "message").strip(), first, count, _name(event)], _NO_CONDITIONS


def _namespace_row(obj: Obj, now: datetime) -> Row:
    return [_name(obj), _s(_m(obj, "status"), "phase"), _age(obj, now)], _NO_CONDITIONS


def _secret_row(obj: Obj, now: datetime) -> Row:
    return [_name(obj), _s(obj, "type"), len(_m(obj, "data")), _age(obj, now)], _NO_CONDITIONS


def _service_account_row(obj: Obj, now: datetime) -> Row:
    return [_name(obj), len(_l(obj, "secrets")), _age(obj, now)], _NO_CONDITIONS


def _deployment_row(obj: Obj, now: datetime) -> Row:
    spec, status = _m(obj, "spec"), _m(obj, "status")
    try:
        selector = _selector_string(_opt(spec, "selector"))
    except _SelectorError:
        selector = "<invalid>"
    names, images = _container_cells(_template_containers(obj))
    return [_name(obj), f"{_i(status, 'readyReplicas')}/{_i(spec, 'replicas', 1)}", _i(status, "updatedReplicas"),
            _i(status, "availableReplicas"), _age(obj, now), names, images, selector], _NO_CONDITIONS


def _hpa_v2_metrics(obj: Obj) -> tuple[list[Obj], list[Obj]]:
    """The spec metrics and current metrics in autoscaling/v2 shape, converting an autoscaling/v1 object."""
    spec, status = _m(obj, "spec"), _m(obj, "status")
    if _s(obj, "apiVersion") != "autoscaling/v1" and "targetCPUUtilizationPercentage" not in spec:
        return _ml(spec, "metrics"), _ml(status, "currentMetrics")
    metrics: list[Obj] = []
    target = _opt_i(spec, "targetCPUUtilizationPercentage")
    if target is not None:
        metrics.append({"type": "Resource", "resource": {
            "name": "cpu", "target": {"type": "Utilization", "averageUtilization": target}}})
    current: list[Obj] = []
    current_cpu = _opt_i(status, "currentCPUUtilizationPercentage")
    if current_cpu is not None:
        current.append({"type": "Resource", "resource": {
            "name": "cpu", "current": {"averageUtilization": current_cpu}}})
    return metrics, current


def _format_hpa_metrics(specs: list[Obj], statuses: list[Obj]) -> str:
    """``formatHPAMetrics``: "current/target" per metric, two at most, "<unknown>" when not measured."""
    if not specs:
        return "<none>"
    parts: list[str] = []
    limit = 2

    def status_of(index: int, key: str) -> Obj | None:
        return _opt(statuses[index], key) if index < len(statuses) else None

    for index, spec in enumerate(specs):
        metric_type = _s(spec, "type")
        if metric_type in ("External", "Object"):
            key = metric_type.lower()
            target = _m(_m(spec, key), "target")
            current_status = status_of(index, key)
            current_values = _m(current_status, "current")
            if _has(target, "averageValue"):
                current = "<unknown>"
                if current_status is not None and _has(current_values, "averageValue"):
                    current = _quantity(current_values["averageValue"])
                parts.append(f"{current}/{_quantity_ptr(target.get('averageValue'))} (avg)")
            else:
                current = "<unknown>"
                if current_status is not None:
                    current = _quantity_ptr(current_values.get("value"))
                parts.append(f"{current}/{_quantity_ptr(target.get('value'))}")
        elif metric_type == "Pods":
            target = _m(_m(spec, "pods"), "target")
            current_status = status_of(index, "pods")
            current = "<unknown>"
            if current_status is not None:
                current = _quantity_ptr(_m(current_status, "current").get("averageValue"))
            parts.append(f"{current}/{_quantity_ptr(target.get('averageValue'))}")
        elif metric_type in ("Resource", "ContainerResource"):
            key = "resource" if metric_type == "Resource" else "containerResource"
            source = _m(spec, key)
            target = _m(source, "target")
            current_status = status_of(index, key)
            current_values = _m(current_status, "current")
            if _has(target, "averageValue"):
                current = "<unknown>"
                if current_status is not None:
                    current = _quantity_ptr(current_values.get("averageValue"))
                parts.append(f"{_s(source, 'name')}: {current}/{_quantity(target['averageValue'])}")
            else:
                current = "<unknown>"
                if current_status is not None and _opt_i(current_values, "averageUtilization") is not None:
                    current = f"{_i(current_values, 'averageUtilization')}%"
                utilization = _opt_i(target, "averageUtilization")
                target_text = "<auto>" if utilization is None else f"{utilization}%"
                parts.append(f"{_s(source, 'name')}: {current}/{target_text}")
        else:
            parts.append("<unknown type>")
    count = len(parts)
    if count > limit:
        return f"{', '.join(parts[:limit])} + {count - limit} more..."
    return ", ".join(parts)


def _hpa_row(obj: Obj, now: datetime) -> Row:
    spec, status = _m(obj, "spec"), _m(obj, "status")
    target_ref = _m(spec, "scaleTargetRef")
    metrics, current = _hpa_v2_metrics(obj)
    min_replicas = _opt_i(spec, "minReplicas")
    return [_name(obj), f"{_s(target_ref, 'kind')}/{_s(target_ref, 'name')}", _format_hpa_metrics(metrics, current),
            "<unset>" if min_replicas is None else str(min_replicas), _i(spec, "maxReplicas"),
            _i(status, "currentReplicas"), _age(obj, now)], _NO_CONDITIONS


def _config_map_row(obj: Obj, now: datetime) -> Row:
    return [_name(obj), len(_m(obj, "data")) + len(_m(obj, "binaryData")), _age(obj, now)], _NO_CONDITIONS


def _network_policy_row(obj: Obj, now: datetime) -> Row:
    # PodSelector is a struct, not a pointer: an absent one is the empty selector.
    return [_name(obj), _format_label_selector(_m(_m(obj, "spec"), "podSelector")), _age(obj, now)], _NO_CONDITIONS


def _binding_row(obj: Obj, now: datetime) -> Row:
    """``printRoleBinding`` / ``printClusterRoleBinding`` (identical)."""
    role_ref = _m(obj, "roleRef")
    users: list[str] = []
    groups: list[str] = []
    service_accounts: list[str] = []
    for subject in _ml(obj, "subjects"):
        kind = _s(subject, "kind")
        if kind == "ServiceAccount":
            service_accounts.append(f"{_s(subject, 'namespace')}/{_s(subject, 'name')}")
        elif kind == "User":
            users.append(_s(subject, "name"))
        elif kind == "Group":
            groups.append(_s(subject, "name"))
    return [_name(obj), f"{_s(role_ref, 'kind')}/{_s(role_ref, 'name')}", _age(obj, now), ", ".join(users),
            ", ".join(groups), ", ".join(service_accounts)], _NO_CONDITIONS


def _csr_status(obj: Obj) -> str:
    """``extractCSRStatus``: Denied > Approved > Pending, then ",Failed" and ",Issued"."""
    types = {_s(condition, "type") for condition in _ml(_m(obj, "status"), "conditions")}
    text = "Denied" if "Denied" in types else "Approved" if "Approved" in types else "Pending"
    if "Failed" in types:
        text += ",Failed"
    if _s(_m(obj, "status"), "certificate"):
        text += ",Issued"
    return text


def _csr_row(obj: Obj, now: datetime) -> Row:
    spec = _m(obj, "spec")
    expiration = _opt_i(spec, "expirationSeconds")
    requested = "<none>" if expiration is None else human_duration(timedelta(seconds=expiration))
    return [_name(obj), _age(obj, now), _s(spec, "signerName") or "<none>", _s(spec, "username"), requested,
            _csr_status(obj)], _NO_CONDITIONS


def _lease_row(obj: Obj, now: datetime) -> Row:
    return [_name(obj), _s(_m(obj, "spec"), "holderIdentity"), _age(obj, now)], _NO_CONDITIONS


def _is_default_class(annotations: Mapping[str, str]) -> bool:
    return (annotations.get("storageclass.kubernetes.io/is-default-class") == "true"
            or annotations.get("storageclass.beta.kubernetes.io/is-default-class") == "true")


def _storage_class_row(obj: Obj, now: datetime) -> Row:
    name = _name(obj)
    if _is_default_class(_str_map(_m(obj, "metadata"), "annotations")):
        name += " (default)"
    return [name, _s(obj, "provisioner"), _ptr_s(obj, "reclaimPolicy", "Delete"),
            _ptr_s(obj, "volumeBindingMode", "Immediate"), _b(obj, "allowVolumeExpansion"),
            _age(obj, now)], _NO_CONDITIONS


def _controller_name(meta: Obj) -> str:
    """The controlling owner as ``kind.group/name`` (``formatResourceName`` with the owner's GVK)."""
    for owner in _ml(meta, "ownerReferences"):
        if owner.get("controller") is not True:
            continue
        api_version = _s(owner, "apiVersion")
        group = api_version.split("/", 1)[0] if "/" in api_version else ""
        kind = _s(owner, "kind")
        if not group and not kind:
            return _s(owner, "name")
        group_kind = f"{kind}.{group}" if group else kind
        return f"{group_kind.lower()}/{_s(owner, 'name')}"
    return "<none>"


def _controller_revision_row(obj: Obj, now: datetime) -> Row:
    return [_name(obj), _controller_name(_m(obj, "metadata")), _i(obj, "revision"), _age(obj, now)], _NO_CONDITIONS


def _resource_quota_row(obj: Obj, now: datetime) -> Row:
    status = _m(obj, "status")
    hard, used = _m(status, "hard"), _m(status, "used")
    requests: list[str] = []
    limits: list[str] = []
    for resource in sorted(hard):
        pieces = resource.split(".")
        column = limits if len(pieces) > 1 and pieces[0] == "limits" else requests
        column.append(f"{resource}: {_quantity(used.get(resource))}/{_quantity(hard[resource])}")
    return [_name(obj), ", ".join(requests), ", ".join(limits), _age(obj, now)], _NO_CONDITIONS


def _priority_class_row(obj: Obj, now: datetime) -> Row:
    return [_name(obj), _i(obj, "value"), _b(obj, "globalDefault"), _age(obj, now),
            _s(obj, "preemptionPolicy")], _NO_CONDITIONS


def _runtime_class_row(obj: Obj, now: datetime) -> Row:
    return [_name(obj), _s(obj, "handler"), _age(obj, now)], _NO_CONDITIONS


def _webhook_configuration_row(obj: Obj, now: datetime) -> Row:
    return [_name(obj), len(_l(obj, "webhooks")), _age(obj, now)], _NO_CONDITIONS


def _default_row(obj: Obj, now: datetime) -> Row:
    """``rest.defaultTableConvertor``: the name and the creation time in RFC 3339, UTC."""
    created = _time(_m(obj, "metadata").get("creationTimestamp")).astimezone(UTC)
    # Formatted by hand: strftime does not zero-pad Go's zero time, year 1 ("0001-01-01T00:00:00Z").
    text = (f"{created.year:04d}-{created.month:02d}-{created.day:02d}T"
            f"{created.hour:02d}:{created.minute:02d}:{created.second:02d}Z")
    return [_name(obj), text], _NO_CONDITIONS


@dataclass(frozen=True, slots=True)
class _Printer:
    columns: tuple[_Column, ...]
    row: Callable[[Obj, datetime], Row]


_DEFAULT_PRINTER: Final = _Printer(_DEFAULT_COLUMNS, _default_row)

# (API group, plural resource) -> printer. Resources not listed use the default convertor upstream
# too: roles, clusterroles, limitranges, customresourcedefinitions, ...
_PRINTERS: Final[dict[tuple[str, str], _Printer]] = {
    ("", "pods"): _Printer(_POD_COLUMNS, _pod_row),
    ("", "podtemplates"): _Printer(_POD_TEMPLATE_COLUMNS, _pod_template_row),
    ("", "replicationcontrollers"): _Printer(_RC_COLUMNS, _rc_row),
    ("", "services"): _Printer(_SERVICE_COLUMNS, _service_row),
    ("", "endpoints"): _Printer(_ENDPOINTS_COLUMNS, _endpoints_row),
    ("", "nodes"): _Printer(_NODE_COLUMNS, _node_row),
    ("", "events"): _Printer(_EVENT_COLUMNS, _event_row),
    ("", "namespaces"): _Printer(_NAMESPACE_COLUMNS, _namespace_row),
    ("", "secrets"): _Printer(_SECRET_COLUMNS, _secret_row),
    ("", "serviceaccounts"): _Printer(_SERVICE_ACCOUNT_COLUMNS, _service_account_row),
    ("", "persistentvolumes"): _Printer(_PV_COLUMNS, _pv_row),
    ("", "persistentvolumeclaims"): _Printer(_PVC_COLUMNS, _pvc_row),
    ("", "configmaps"): _Printer(_CONFIG_MAP_COLUMNS, _config_map_row),
    ("", "resourcequotas"): _Printer(_RESOURCE_QUOTA_COLUMNS, _resource_quota_row),
    ("apps", "deployments"): _Printer(_DEPLOYMENT_COLUMNS, _deployment_row),
    ("apps", "replicasets"): _Printer(_REPLICA_SET_COLUMNS, _replica_set_row),
    ("apps", "daemonsets"): _Printer(_DAEMON_SET_COLUMNS, _daemon_set_row),
    ("apps", "statefulsets"): _Printer(_STATEFUL_SET_COLUMNS, _stateful_set_row),
    ("apps", "controllerrevisions"): _Printer(_CONTROLLER_REVISION_COLUMNS, _controller_revision_row),
    ("batch", "jobs"): _Printer(_JOB_COLUMNS, _job_row),
    ("batch", "cronjobs"): _Printer(_CRON_JOB_COLUMNS, _cron_job_row),
    ("discovery.k8s.io", "endpointslices"): _Printer(_ENDPOINT_SLICE_COLUMNS, _endpoint_slice_row),
    ("coordination.k8s.io", "leases"): _Printer(_LEASE_COLUMNS, _lease_row),
    ("rbac.authorization.k8s.io", "rolebindings"): _Printer(_ROLE_BINDING_COLUMNS, _binding_row),
    ("rbac.authorization.k8s.io", "clusterrolebindings"): _Printer(_CLUSTER_ROLE_BINDING_COLUMNS, _binding_row),
    ("scheduling.k8s.io", "priorityclasses"): _Printer(_PRIORITY_CLASS_COLUMNS, _priority_class_row),
    ("policy", "poddisruptionbudgets"): _Printer(_PDB_COLUMNS, _pdb_row),
    ("certificates.k8s.io", "certificatesigningrequests"): _Printer(_CSR_COLUMNS, _csr_row),
    ("networking.k8s.io", "networkpolicies"): _Printer(_NETWORK_POLICY_COLUMNS, _network_policy_row),
    ("networking.k8s.io", "ingresses"): _Printer(_INGRESS_COLUMNS, _ingress_row),
    ("networking.k8s.io", "ingressclasses"): _Printer(_INGRESS_CLASS_COLUMNS, _ingress_class_row),
    ("autoscaling", "horizontalpodautoscalers"): _Printer(_HPA_COLUMNS, _hpa_row),
    ("storage.k8s.io", "storageclasses"): _Printer(_STORAGE_CLASS_COLUMNS, _storage_class_row),
    ("events.k8s.io", "events"): _Printer(_EVENT_COLUMNS, _event_row),
    ("node.k8s.io", "runtimeclasses"): _Printer(_RUNTIME_CLASS_COLUMNS, _runtime_class_row),
    ("admissionregistration.k8s.io", "mutatingwebhookconfigurations"):
        _Printer(_WEBHOOK_COLUMNS, _webhook_configuration_row),
    ("admissionregistration.k8s.io", "validatingwebhookconfigurations"):
        _Printer(_WEBHOOK_COLUMNS, _webhook_configuration_row),
}


def _printer(group: str, resource: str) -> _Printer:
    return _PRINTERS.get((group, resource), _DEFAULT_PRINTER)


# ---------------------------------------------------------------------------------------------
# Custom resources: additionalPrinterColumns and the JSONPath subset they use
# ---------------------------------------------------------------------------------------------


class _JSONPathError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class _Field:
    name: str


@dataclass(frozen=True, slots=True)
class _Index:
    index: int


@dataclass(frozen=True, slots=True)
class _Slice:
    start: int | None
    end: int | None


@dataclass(frozen=True, slots=True)
class _Wildcard:
    pass


@dataclass(frozen=True, slots=True)
class _Filter:
    path: tuple[_Step, ...]
    operator: str | None  # None: the element has the path ("exists")
    literal: Any


_Step = _Field | _Index | _Slice | _Wildcard | _Filter

_FILTER: Final = re.compile(r"^\s*@(?P<path>[^=!<>\s]*)\s*(?:(?P<op>==|!=|<=|>=|<|>)\s*(?P<lit>.+?))?\s*$")
_NUMBER: Final = re.compile(r"^-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?$")


def _filter_literal(text: str) -> Any:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    if text in ("true", "false"):
        return text == "true"
    if _NUMBER.match(text):
        return float(text) if any(ch in text for ch in ".eE") else int(text)
    raise _JSONPathError(f"unrecognized filter value {text!r}: expected a quoted string, a number, true or false")


def _bracket_end(path: str, start: int) -> int:
    """Index of the "]" closing the "[" at ``start``, skipping quoted text and parentheses."""
    depth = 0
    quote = ""
    for position in range(start + 1, len(path)):
        char = path[position]
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "]" and depth == 0:
            return position
    raise _JSONPathError(f"unclosed '[' at position {start} in {path!r}")


def _parse_bracket(content: str, path: str) -> _Step:
    text = content.strip()
    if text == "*":
        return _Wildcard()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return _Field(text[1:-1])
    if text.startswith("?(") and text.endswith(")"):
        match = _FILTER.match(text[2:-1])
        if not match:
            raise _JSONPathError(f"unrecognized filter {text!r} in {path!r}: expected ?(@.field) or "
                                 "?(@.field OP value) with OP one of ==, !=, <, <=, >, >=")
        inner = match.group("path")
        steps = _parse_jsonpath(inner) if inner else ()
        operator = match.group("op")
        literal = _filter_literal(match.group("lit")) if operator else None
        return _Filter(steps, operator, literal)
    if ":" in text:
        pieces = text.split(":")
        if len(pieces) != 2 or not all(re.fullmatch(r"-?\d*", piece) for piece in pieces):
            raise _JSONPathError(f"unsupported slice [{text}] in {path!r}: expected [start:end]")
        return _Slice(int(pieces[0]) if pieces[0] else None, int(pieces[1]) if pieces[1] else None)
    if re.fullmatch(r"-?\d+", text):
        return _Index(int(text))
    raise _JSONPathError(f"unrecognized array subscript [{text}] in {path!r}")


def _parse_jsonpath(path: str) -> tuple[_Step, ...]:
    """Parse the simple JSONPaths CRD columns use: ``.a.b``, ``[0]``, ``['k']``, ``[*]``, ``[?(@.x=="y")]``."""
    steps: list[_Step] = []
    position = 0
    while position < len(path):
        char = path[position]
        if char == ".":
            position += 1
            if position < len(path) and path[position] == ".":
                raise _JSONPathError(f"recursive descent '..' is not supported in {path!r}")
            if position < len(path) and path[position] == "*":
                steps.append(_Wildcard())
                position += 1
                continue
            end = position
            while end < len(path) and path[end] not in ".[":
                end += 1
            if end == position:
                if end == len(path) and len(path) == 1:
                    break  # "." alone: the whole object
                raise _JSONPathError(f"empty field name at position {position} in {path!r}")
            steps.append(_Field(path[position:end]))
            position = end
        elif char == "[":
            end = _bracket_end(path, position)
            steps.append(_parse_bracket(path[position + 1:end], path))
            position = end + 1
        else:
            raise _JSONPathError(f"unexpected {char!r} at position {position} in {path!r}: "
                                 "expected '.' or '['")
    return tuple(steps)


def _comparable(left: Any, right: Any) -> bool:
    def kind(value: Any) -> str:
        if isinstance(value, bool):
            return "bool"
        if isinstance(value, int | float):
            return "number"
        return "string" if isinstance(value, str) else "other"

    return kind(left) == kind(right) != "other"


def _filter_passes(step: _Filter, item: Any) -> bool:
    found = _evaluate(step.path, item)
    if step.operator is None:
        return bool(found)
    if not found or not _comparable(found[0], step.literal):
        return False
    left, right = found[0], step.literal
    if step.operator == "==":
        return bool(left == right)
    if step.operator == "!=":
        return bool(left != right)
    if isinstance(left, bool):
        return False  # booleans have no order
    if step.operator == "<":
        return bool(left < right)
    if step.operator == ">":
        return bool(left > right)
    if step.operator == "<=":
        return bool(left <= right)
    return bool(left >= right)


def _evaluate(steps: Sequence[_Step], value: Any) -> list[Any]:
    """All values the path reaches; missing keys and type mismatches reach nothing (AllowMissingKeys)."""
    current = [value]
    for step in steps:
        reached: list[Any] = []
        for item in current:
            if isinstance(step, _Field):
                if isinstance(item, dict) and step.name in item:
                    reached.append(item[step.name])
            elif isinstance(step, _Index):
                if isinstance(item, list) and -len(item) <= step.index < len(item):
                    reached.append(item[step.index])
            elif isinstance(step, _Slice):
                if isinstance(item, list):
                    reached.extend(item[step.start:step.end])
            elif isinstance(step, _Wildcard):
                if isinstance(item, dict):
                    reached.extend(item.values())
                elif isinstance(item, list):
                    reached.extend(item)
            elif isinstance(item, list):
                reached.extend(element for element in item if _filter_passes(step, element))
        current = reached
    return current


def _shortest_digits(value: float) -> tuple[bool, str, int]:
    """Sign, shortest round-trip digits (no trailing zeros) and decimal point position of a finite non-zero float."""
    sign, digits, exponent = Decimal(repr(value)).as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    point = len(text) + exponent
    stripped = text.lstrip("0")
    point -= len(text) - len(stripped)
    return bool(sign), stripped.rstrip("0"), point


def _format_e(negative: bool, digits: str, point: int) -> str:
    """strconv %e of the shortest digits, exponent with at least two digits ("1.5e+06", "1e-05")."""
    exponent = point - 1
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{'-' if negative else ''}{mantissa}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"


def _format_f(negative: bool, digits: str, point: int) -> str:
    """strconv %f of the shortest digits: no exponent, no trailing zeros after the point."""
    sign = "-" if negative else ""
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


def _special_float(value: float) -> str | None:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    return None


def _go_float_v(value: float) -> str:
    """Go's ``fmt.Sprint(float64)``: strconv 'g' with the shortest digits, %e below 1e-4 or from 1e6."""
    special = _special_float(value)
    if special is not None:
        return special
    negative, digits, point = _shortest_digits(value)
    # strconv: "if precision was the shortest possible, use precision 6 for this decision".
    if point - 1 < -4 or point - 1 >= 6:
        return _format_e(negative, digits, point)
    return _format_f(negative, digits, point)


def _go_json_float(value: float) -> str:
    """Go's ``encoding/json`` float64: %f, or %e below 1e-6 and from 1e21 with "e-09" cleaned to "e-9"."""
    special = _special_float(value)
    if special is not None:
        return special
    negative, digits, point = _shortest_digits(value)
    if abs(value) < 1e-6 or abs(value) >= 1e21:
        text = _format_e(negative, digits, point)
        return re.sub(r"e-0(\d)$", r"e-\1", text)
    return _format_f(negative, digits, point)


def _go_json(value: Any) -> str:
    """Go's ``json.Marshal`` of decoded JSON: sorted keys, compact, HTML characters escaped."""
    if isinstance(value, dict):
        items = ",".join(f"{_go_json(str(key))}:{_go_json(value[key])}" for key in sorted(value, key=str))
        return "{" + items + "}"
    if isinstance(value, list):
        return "[" + ",".join(_go_json(item) for item in value) + "]"
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return json.dumps(value)
    if isinstance(value, float):
        return _go_json_float(value)
    text = json.dumps(str(value), ensure_ascii=False)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escape)
    return text


def _jsonpath_text(value: Any) -> str:
    """client-go ``JSONPath.PrintResults`` of one value: objects and arrays as JSON, scalars as fmt prints."""
    if isinstance(value, dict | list):
        return _go_json(value)
    if value is None:
        return "<no value>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _go_float_v(value)
    return str(value)


def _custom_cell(column_type: str, value: Any, now: datetime) -> Any:
    """``tableconvertor.cellForJSONValue``: a typed cell, or None when the value has the wrong type."""
    if value is None:
        return None
    if column_type == "integer":
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            return value
        if isinstance(value, float):
            return int(value) if math.isfinite(value) else None
    elif column_type == "number":
        if isinstance(value, bool):
            return None
        if isinstance(value, int | float):
            return float(value)
    elif column_type == "boolean":
        if isinstance(value, bool):
            return value
    elif column_type == "date":
        if isinstance(value, str):
            if value in ("", "null"):
                return "<unknown>"
            parsed = _parse_rfc3339(value)
            if parsed is None:
                return "<invalid>"
            return human_duration(_utc(now) - parsed)
    return None


@dataclass(frozen=True, slots=True)
class _CustomColumn:
    definition: _Column
    steps: tuple[_Step, ...]


# serveDefaultColumnsIfEmpty: a CRD version without additionalPrinterColumns prints NAME, AGE.
_DEFAULT_CUSTOM_COLUMNS: Final[tuple[Obj, ...]] = (
    {"name": "Age", "type": "date", "description": _DOC["ObjectMeta.creationTimestamp"],
     "jsonPath": ".metadata.creationTimestamp"},
)


def validate_printer_column_path(json_path: str) -> str | None:
    """An error message when a CRD printer column's jsonPath cannot be evaluated, else None.

    Meant for CRD validation, so that users learn about a bad path when they create the CRD rather
    than through a silently missing column (upstream drops such a column and every later one).
    """
    if not json_path:
        return "must not be empty"
    if json_path[0] != ".":
        return "must be a simple json path starting with ."
    try:
        _parse_jsonpath(json_path)
    except _JSONPathError as err:
        return str(err)
    return None


def _custom_columns(additional_printer_columns: Sequence[Obj]) -> list[_CustomColumn]:
    columns = list(additional_printer_columns) or list(_DEFAULT_CUSTOM_COLUMNS)
    compiled: list[_CustomColumn] = []
    for column in columns:
        path = _s(column, "jsonPath")
        try:
            steps = _parse_jsonpath(path)
        except _JSONPathError:
            # tableconvertor.New stops at the first unparseable path and serves the columns before it.
            break
        description = _s(column, "description") or (
            f"Custom resource definition column (in JSONPath format): {path}")
        definition = _Column(name=_s(column, "name"), type=_s(column, "type"), description=description,
                             format=_s(column, "format"), priority=_i(column, "priority"))
        compiled.append(_CustomColumn(definition, steps))
    return compiled


def custom_resource_columns(additional_printer_columns: Sequence[Obj]) -> list[Obj]:
    """Column definitions for a custom resource: Name, then the CRD version's printer columns.

    ``additional_printer_columns`` is ``spec.versions[].additionalPrinterColumns`` of the served
    version (each with name, type, format, description, priority, jsonPath); empty means an Age column.
    """
    return [_NAME.as_dict()] + [column.definition.as_dict() for column in _custom_columns(additional_printer_columns)]


def _custom_row(columns: Sequence[_CustomColumn], obj: Obj, now: datetime) -> list[Any]:
    cells: list[Any] = [_name(obj)]
    for column in columns:
        found = _evaluate(column.steps, obj)
        if not found:
            cells.append(None)
        elif column.definition.type == "string":
            cells.append(_jsonpath_text(found[0]))
        else:
            cells.append(_custom_cell(column.definition.type, found[0], now))
    return cells


def custom_resource_cells(*, additional_printer_columns: Sequence[Obj], obj: Obj, now: datetime) -> list[Any]:
    """Cells of one custom resource for :func:`custom_resource_columns`; None where the path finds nothing."""
    return _custom_row(_custom_columns(additional_printer_columns), obj, now)


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def column_definitions(*, group: str, resource: str) -> list[Obj]:
    """Table column definitions for a built-in resource (the default Name/Created At for unknown ones)."""
    return [column.as_dict() for column in _printer(group, resource).columns]


def row_cells(*, group: str, resource: str, obj: Obj, now: datetime) -> list[Any]:
    """All cells of one object's row, wide columns included, as the server computes them at ``now``."""
    cells, _ = _printer(group, resource).row(obj, now)
    return cells


def _partial_object_metadata(obj: Obj, api_version: str) -> Obj:
    metadata = dict(_m(obj, "metadata"))
    # metav1.Time has no omitempty effect: a zero creationTimestamp serializes as null.
    metadata.setdefault("creationTimestamp", None)
    return {"kind": "PartialObjectMetadata", "apiVersion": api_version, "metadata": metadata}


def _rows(group: str, resource: str, objects: Sequence[Obj], now: datetime,
          additional_printer_columns: Sequence[Obj] | None) -> Iterator[Row]:
    if additional_printer_columns is not None:
        compiled = _custom_columns(additional_printer_columns)
        for obj in objects:
            yield _custom_row(compiled, obj, now), _NO_CONDITIONS
        return
    printer = _printer(group, resource)
    for obj in objects:
        yield printer.row(obj, now)


def to_table(
    *,
    group: str,
    resource: str,
    objects: Sequence[Obj],
    include_object: str = "Metadata",
    resource_version: str,
    continue_token: str | None = None,
    remaining: int | None = None,
    now: datetime,
    additional_printer_columns: Sequence[Obj] | None = None,
    no_headers: bool = False,
    api_version: str = "meta.k8s.io/v1",
) -> Obj:
    """A ``meta.k8s.io`` Table of ``objects`` (one for a GET, the page for a LIST, the object of a watch event).

    ``include_object`` is the request's ``includeObject`` ("" means Metadata). Pass
    ``additional_printer_columns`` (possibly empty) for custom resources, ``no_headers`` for the
    second and later watch events (upstream sends column definitions only once), and ``api_version``
    ``meta.k8s.io/v1beta1`` when the client asked for that version. Row objects are the given dicts,
    not copies. Raises TableConversionError (400 or 406, upstream messages) for a bad includeObject
    or Table version.
    """
    include = include_object or "Metadata"
    if include not in INCLUDE_OBJECT_VALUES:
        raise TableConversionError(
            400, "BadRequest",
            f"Unable to convert to Table as requested: includeObject: Invalid value: {json.dumps(include_object)}: "
            "must be 'Metadata', 'Object', 'None', or empty")
    if api_version not in TABLE_API_VERSIONS:
        raise TableConversionError(
            406, "NotAcceptable",
            f"no Table exists in group version {api_version}; supported: {', '.join(TABLE_API_VERSIONS)}")

    rows: list[Obj] = []
    for obj, (cells, conditions) in zip(objects, _rows(group, resource, objects, now, additional_printer_columns),
                                         strict=True):
        row: Obj = {"cells": cells}
        if conditions:
            row["conditions"] = [dict(condition) for condition in conditions]
        if include == "Object":
            row["object"] = obj
        elif include == "Metadata":
            row["object"] = _partial_object_metadata(obj, api_version)
        else:
            row["object"] = None
        rows.append(row)

    metadata: Obj = {}
    if resource_version:
        metadata["resourceVersion"] = resource_version
    if continue_token:
        metadata["continue"] = continue_token
    if remaining is not None:
        metadata["remainingItemCount"] = remaining

    if no_headers:
        columns: list[Obj] | None = None
    elif additional_printer_columns is not None:
        columns = custom_resource_columns(additional_printer_columns)
    else:
        columns = column_definitions(group=group, resource=resource)

    default_convertor = additional_printer_columns is None and (group, resource) not in _PRINTERS
    return {
        "kind": "Table",
        "apiVersion": api_version,
        "metadata": metadata,
        "columnDefinitions": columns,
        # The default convertor appends to a nil slice, so an empty table has "rows": null there.
        "rows": None if default_convertor and not rows else rows,
    }
