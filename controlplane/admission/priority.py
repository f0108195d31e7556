"""Priority admission: a pod's ``priorityClassName`` becomes its ``spec.priority`` and ``spec.preemptionPolicy``.

Design
------
Upstream's plugin (``plugin/pkg/admission/priority``), on create:

* **Pods**: the named PriorityClass must exist (403 ``no PriorityClass with name X was found``); a pod
  without a class gets the ``globalDefault`` class (its name too), or priority 0 and
  ``PreemptLowerPriority`` when no class is the default. A pod may carry ``spec.priority`` or
  ``spec.preemptionPolicy`` only when they equal what the class gives (a client echoing a pod it read
  back); anything else is refused, so a pod cannot raise its own priority past its class.
* **PriorityClasses** (create and update): at most one is ``globalDefault`` (403 naming the existing
  default). When a race still leaves two, the one with the lowest value is the default, as upstream.

The built-in ``system-cluster-critical`` and ``system-node-critical`` classes are real objects the
server creates at start (``ensure_system_priority_classes``), so they resolve like any other class.
Pod updates keep the stored priority (``PodStrategy.prepare_for_update``) and validation forbids
changing it, so the plugin looks at pod creates only; subresources are never its business.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Final

from kubelite.controlplane.admission.chain import CREATE, AdmissionDenied, AdmissionRequest

Obj = dict[str, Any]

PREFIX: Final = "/scheduling.k8s.io/priorityclasses/"
DEFAULT_PREEMPTION_POLICY: Final = "PreemptLowerPriority"
DEFAULT_PRIORITY: Final = 0  # upstream DefaultPriorityWhenNoDefaultClassExists
_DESCRIPTIONS: Final = {
    "system-node-critical": "Used for system critical pods that must not be moved from their current node.",
    "system-cluster-critical": "Used for system critical pods that must run in the cluster, but can be moved to "
                               "another node if necessary.",
}


def _value(pc: Obj) -> int:
    return int(pc.get("value") or 0)


def default_class(classes: Iterable[Obj]) -> Obj | None:
    """Upstream getDefaultPriorityClass: the globalDefault class with the lowest value."""
    found: Obj | None = None
    for pc in classes:
        if pc.get("globalDefault") is True and (found is None or _value(pc) < _value(found)):
            found = pc
    return found


async def admit(request: AdmissionRequest) -> None:
    if request.subresource:
        return  # upstream ignores every subresource (binding, status, ephemeralcontainers)
    if request.group == "" and request.resource == "pods":
        if request.operation == CREATE:
            await _admit_pod(request)
    elif request.group == "scheduling.k8s.io" and request.resource == "priorityclasses":
        _validate_priority_class(request)


async def _admit_pod(request: AdmissionRequest) -> None:
    spec = request.obj.setdefault("spec", {})
    class_name = spec.get("priorityClassName") or ""
    if not class_name:
        pc = default_class(request.list_objects(PREFIX, PREFIX))
        if pc is None:
            priority, policy = DEFAULT_PRIORITY, DEFAULT_PREEMPTION_POLICY
        else:
            spec["priorityClassName"] = (pc.get("metadata") or {}).get("name", "")
            priority, policy = _value(pc), pc.get("preemptionPolicy") or DEFAULT_PREEMPTION_POLICY
    else:
        pc = await request.get_object(f"{PREFIX}{class_name}")
        if pc is None:
            raise AdmissionDenied(f"no PriorityClass with name {class_name} was found")
        priority, policy = _value(pc), pc.get("preemptionPolicy") or DEFAULT_PREEMPTION_POLICY
    given = spec.get("priority")
    if given is not None and given != priority:
        raise AdmissionDenied(f"the integer value of priority ({given}) must not be provided in pod spec; priority "
                              f"admission controller computed {priority} from the given PriorityClass name")
    given_policy = spec.get("preemptionPolicy")
    if given_policy is not None and given_policy != policy:
        raise AdmissionDenied(f"the string value of PreemptionPolicy ({given_policy}) must not be provided in pod "
                              f"spec; priority admission controller computed {policy} from the given PriorityClass "
                              "name")
    spec["priority"] = priority
    spec["preemptionPolicy"] = policy


def _validate_priority_class(request: AdmissionRequest) -> None:
    if request.obj.get("globalDefault") is not True:
        return
    existing = default_class(request.list_objects(PREFIX, PREFIX))
    name = (request.obj.get("metadata") or {}).get("name", "")
    if existing is not None and (request.operation == CREATE or (existing.get("metadata") or {}).get("name") != name):
        # on create any existing default conflicts; an update may keep its own class the default
        raise AdmissionDenied(f"PriorityClass {(existing.get('metadata') or {}).get('name', '')} is already marked "
                              "as default. Only one default can exist")


async def ensure_system_priority_classes(*, exists: Callable[[str], Awaitable[bool]],
                                         create: Callable[[Obj], Awaitable[None]],
                                         classes: Mapping[str, tuple[int, bool]]) -> list[str]:
    """Create the built-in classes that are missing (upstream's scheduling post-start hook); returns
    the names created. ``create`` must treat "already exists" (another server won) as done."""
    made = []
    for name, (value, global_default) in classes.items():
        if await exists(name):
            continue
        await create({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": name},
                      "value": value, "globalDefault": global_default, "description": _DESCRIPTIONS.get(name, "")})
        made.append(name)
    return made
