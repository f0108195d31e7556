"""storage.k8s.io/v1 StorageClasses, core/v1 PersistentVolumeClaims and PersistentVolumes (upstream
``pkg/apis/storage/validation`` and ``ValidatePersistentVolume*`` in ``pkg/apis/core/validation``).

* StorageClass: a provisioner (a qualified name), at most 512 parameters of 256 KiB in all, reclaim
  policy Delete|Retain (default Delete), binding mode Immediate|WaitForFirstConsumer (default
  Immediate); parameters, provisioner, reclaim policy and binding mode cannot change.
* PersistentVolumeClaim: access modes, a positive ``resources.requests.storage``, volume mode
  (default Filesystem), a valid class name and selector. After creation the spec is immutable except
  ``resources.requests``, ``volumeAttributesClassName`` and a ``volumeName`` set once (binding).
"""

from __future__ import annotations

import copy
from typing import Any, Final

from kubelite.api import validation
from kubelite.api.quantity import Quantity, QuantityError
from kubelite.api.validation import FieldError, Path
from kubelite.controlplane.apiserver.kinds.workloads import Obj, as_dict
from kubelite.controlplane.apiserver.strategy import Strategy

RECLAIM_POLICIES: Final = ("Delete", "Retain")
BINDING_MODES: Final = ("Immediate", "WaitForFirstConsumer")
MAX_PARAMETERS: Final = 512
MAX_PARAMETERS_SIZE: Final = 256 * 1024
ACCESS_MODES: Final = ("ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod")
VOLUME_MODES: Final = ("Block", "Filesystem")
PVC_SPEC_IMMUTABLE: Final = ("spec is immutable after creation except resources.requests and "
                             "volumeAttributesClassName for bound claims")


class StorageClassStrategy(Strategy):
    """storage.k8s.io/v1 StorageClass."""

    def default(self, obj: Obj) -> None:
        obj.setdefault("reclaimPolicy", "Delete")
        obj.setdefault("volumeBindingMode", "Immediate")

    def validate(self, obj: Obj) -> list[FieldError]:
        problems = super().validate(obj)
        provisioner = str(obj.get("provisioner") or "")
        if not provisioner:
            problems.append(FieldError.required(Path("provisioner"), ""))
        else:
            problems.extend(FieldError.invalid(Path("provisioner"), provisioner.lower(), msg)
                            for msg in validation.is_qualified_name(provisioner.lower()))
        parameters = as_dict(obj.get("parameters"))
        if len(parameters) > MAX_PARAMETERS:
            problems.append(FieldError.too_long(Path("parameters"), MAX_PARAMETERS))
        else:
            if "" in parameters:
                problems.append(FieldError.invalid(Path("parameters"), "", "field can not be empty."))
            if sum(len(k) + len(str(v)) for k, v in parameters.items()) > MAX_PARAMETERS_SIZE:
                problems.append(FieldError.too_long(Path("parameters"), MAX_PARAMETERS_SIZE))
        policy = obj.get("reclaimPolicy")
        if policy and policy not in RECLAIM_POLICIES:
            problems.append(FieldError.not_supported(Path("reclaimPolicy"), policy, RECLAIM_POLICIES))
        mode = obj.get("volumeBindingMode")
        if not mode:
            problems.append(FieldError.required(Path("volumeBindingMode"), ""))
        elif mode not in BINDING_MODES:
            problems.append(FieldError.not_supported(Path("volumeBindingMode"), mode, BINDING_MODES))
        return problems

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        problems = super().validate_update(new, old)
        for name in ("parameters", "provisioner", "reclaimPolicy"):
            if (new.get(name) or None) != (old.get(name) or None):
                problems.append(FieldError.forbidden(Path(name), f"updates to {name} are forbidden."))
        problems.extend(validation.validate_immutable_field(new.get("volumeBindingMode"),
                                                            old.get("volumeBindingMode"), Path("volumeBindingMode")))
        return problems


def _quantity(value: Any, path: Path, problems: list[FieldError]) -> Quantity | None:
    try:
        return Quantity.parse(value)
    except (QuantityError, TypeError) as exc:
        problems.append(FieldError.invalid(path, value, str(exc)))
        return None


class PersistentVolumeClaimStrategy(Strategy):
    """v1 PersistentVolumeClaim."""

    def default(self, obj: Obj) -> None:
        spec = obj.get("spec")
        if isinstance(spec, dict):
            spec.setdefault("volumeMode", "Filesystem")

    def initial_status(self, obj: Obj) -> Obj | None:
        return {"phase": "Pending"}

    def validate(self, obj: Obj) -> list[FieldError]:
        problems = super().validate(obj)
        spec = as_dict(obj.get("spec"))
        path = Path("spec")
        raw_modes = spec.get("accessModes")
        modes: list[Any] = raw_modes if isinstance(raw_modes, list) else []
        if not modes:
            problems.append(FieldError.required(path.child("accessModes"), "at least 1 access mode is required"))
        problems.extend(validation.validate_label_selector(spec.get("selector"), path.child("selector")))
        for mode in modes:
            if mode not in ACCESS_MODES:
                problems.append(FieldError.not_supported(path.child("accessModes"), mode, ACCESS_MODES))
        if "ReadWriteOncePod" in modes and any(m != "ReadWriteOncePod" for m in modes):
            problems.append(FieldError.forbidden(path.child("accessModes"),
                                                 "may not use ReadWriteOncePod with other access modes"))
        requests = as_dict(as_dict(spec.get("resources")).get("requests"))
        spath = path.child("resources").key("storage")
        if "storage" not in requests:
            problems.append(FieldError.required(spath, ""))
        else:
            quantity = _quantity(requests["storage"], spath, problems)
            if quantity is not None and quantity.sign() <= 0:
                problems.append(FieldError.invalid(spath, requests["storage"], "must be greater than zero"))
        class_name = spec.get("storageClassName")
        if class_name:
            problems.extend(FieldError.invalid(path.child("storageClassName"), class_name, msg)
                            for msg in validation.name_is_dns_subdomain(str(class_name), False))
        mode = spec.get("volumeMode")
        if mode is not None and mode not in VOLUME_MODES:
            problems.append(FieldError.not_supported(path.child("volumeMode"), mode, VOLUME_MODES))
        return problems

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        problems = super().validate_update(new, old)
        new_spec, old_spec = copy.deepcopy(as_dict(new.get("spec"))), copy.deepcopy(as_dict(old.get("spec")))
        if not old_spec.get("volumeName"):
            old_spec["volumeName"] = new_spec.get("volumeName")  # binding sets it once
        for spec in (new_spec, old_spec):
            spec.pop("volumeAttributesClassName", None)
            resources = as_dict(spec.get("resources"))
            resources.pop("requests", None)
            if isinstance(spec.get("resources"), dict) and not resources:
                spec.pop("resources")
            for name in [k for k, v in spec.items() if v is None]:
                del spec[name]
        if new_spec != old_spec:
            problems.append(FieldError.forbidden(Path("spec"), PVC_SPEC_IMMUTABLE))
        return problems


PV_RECLAIM_POLICIES: Final = ("Delete", "Recycle", "Retain")
PV_SOURCES: Final = ("gcePersistentDisk", "awsElasticBlockStore", "hostPath", "glusterfs", "nfs", "rbd", "iscsi",
                     "cinder", "cephfs", "fc", "flocker", "flexVolume", "azureFile", "vsphereVolume", "quobyte",
                     "azureDisk", "photonPersistentDisk", "portworxVolume", "scaleIO", "local", "storageos", "csi")
PV_SOURCE_IMMUTABLE: Final = "spec.persistentvolumesource is immutable after creation"


class PersistentVolumeStrategy(Strategy):
    """v1 PersistentVolume (upstream ``ValidatePersistentVolume``/``Update``, ``SetDefaults_PersistentVolume``).

    Access modes and a positive ``capacity.storage`` (the only capacity key), exactly one volume source,
    a known reclaim policy (default Retain) and volume mode (default Filesystem); the source and the
    volume mode cannot change, node affinity can only be set where there was none.
    """

    def default(self, obj: Obj) -> None:
        spec = obj.get("spec")
        if isinstance(spec, dict):
            spec.setdefault("persistentVolumeReclaimPolicy", "Retain")
            spec.setdefault("volumeMode", "Filesystem")

    def initial_status(self, obj: Obj) -> Obj | None:
        return {"phase": "Pending"}

    def validate(self, obj: Obj) -> list[FieldError]:
        problems = super().validate(obj)
        spec = as_dict(obj.get("spec"))
        path = Path("spec")
        raw_modes = spec.get("accessModes")
        modes: list[Any] = raw_modes if isinstance(raw_modes, list) else []
        if not modes:
            problems.append(FieldError.required(path.child("accessModes"), ""))
        capacity = as_dict(spec.get("capacity"))
        if not capacity:
            problems.append(FieldError.required(path.child("capacity"), ""))
        if "storage" not in capacity or len(capacity) > 1:
            problems.append(FieldError.not_supported(path.child("capacity"), sorted(capacity), ["storage"]))
        for name, value in sorted(capacity.items()):
            quantity = _quantity(value, path.child("capacity").key(str(name)), problems)
            if quantity is not None and quantity.sign() <= 0:
                problems.append(FieldError.invalid(path.child("capacity").key(str(name)), value,
                                                   "must be greater than zero"))
        for mode in modes:
            if mode not in ACCESS_MODES:
                problems.append(FieldError.not_supported(path.child("accessModes"), mode, ACCESS_MODES))
        class_name = spec.get("storageClassName")
        if class_name:
            problems.extend(FieldError.invalid(path.child("storageClassName"), class_name, msg)
                            for msg in validation.name_is_dns_subdomain(str(class_name), False))
        mode = spec.get("volumeMode")
        if mode is not None and mode not in VOLUME_MODES:
            problems.append(FieldError.not_supported(path.child("volumeMode"), mode, VOLUME_MODES))
        policy = spec.get("persistentVolumeReclaimPolicy")
        if policy and policy not in PV_RECLAIM_POLICIES:
            problems.append(FieldError.not_supported(path.child("persistentVolumeReclaimPolicy"), policy,
                                                     PV_RECLAIM_POLICIES))
        sources = [name for name in PV_SOURCES if spec.get(name) is not None]
        if not sources:
            problems.append(FieldError.required(path, "must specify a volume type"))
        elif len(sources) > 1:
            problems.append(FieldError.forbidden(path.child(sources[1]), "may not specify more than 1 volume type"))
        return problems

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        problems = super().validate_update(new, old)
        spec, old_spec = as_dict(new.get("spec")), as_dict(old.get("spec"))
        if {k: spec.get(k) for k in PV_SOURCES} != {k: old_spec.get(k) for k in PV_SOURCES}:
            problems.append(FieldError.forbidden(Path("spec", "persistentvolumesource"), PV_SOURCE_IMMUTABLE))
        problems.extend(validation.validate_immutable_field(spec.get("volumeMode"), old_spec.get("volumeMode"),
                                                            Path("spec", "volumeMode")))
        if old_spec.get("nodeAffinity") is not None and spec.get("nodeAffinity") != old_spec.get("nodeAffinity"):
            problems.append(FieldError.invalid(Path("spec", "nodeAffinity"), spec.get("nodeAffinity"),
                                               "field is immutable"))
        return problems
