"""``metadata.managedFields`` and the API server's field manager: what every write records.

Port of k8s.io/apimachinery ``pkg/util/managedfields/internal``: managedfields.go (decode, encode,
manager identifiers), fieldmanager.go (which managed fields a write starts from), conflict.go
(the 409 message), and the managers upstream chains for every built-in and custom resource, applied
here in the same order::

    FieldManager            decode live/new managedFields, encode the result
    VersionCheckManager     apply: the configuration must be of the served group/version/kind
    LastAppliedUpdater      apply by "kubectl": keep the client-side apply annotation in sync
    LastAppliedManager      apply by "kubectl": no conflicts for fields client-side apply set
    SkipNonAppliedManager   untracked objects: start tracking on create or at the first apply
    CapManagersManager      at most 10 update entries; the oldest merge into "ancient-changes"
    BuildManagerInfoManager manager name -> identifier (name, operation, apiVersion, subresource)
    ManagedFieldsUpdater    update: merge into the writer's entry, stamp the time
    StripMetaManager        apiVersion, kind, metadata.name/uid/... are never owned
    StructuredMergeManager  the merge itself (:mod:`.merge`)

Upstream's ``FieldManager.UpdateNoErrors`` is what non-apply writes use: a failure to compute
ownership never fails the write; the object keeps its previous managed fields instead.

Deliberate differences from upstream:

* An applied configuration that does not fit the schema (an unknown field, a string where a number
  belongs) is a 400 Bad Request with upstream's message; upstream answers 500 (kubernetes#122480,
  #139253).
* Where upstream iterates a Go map (conflict causes of several managers), the order is sorted.
* Version conversion is the identity: kubelite serves each kind in one version, so managers that
  wrote through another version are compared on the same object and never dropped.
* Creating an object compares against ``{}`` rather than the Go zero value of the kind, so the
  creator also owns the struct fields it created (``f:spec: {".": {}}``); upstream's creator owns
  only what is below them.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, NamedTuple, TypeAlias, TypeGuard

from kubelite.api.ssa.fieldpath import JSON, FieldSet, FieldsV1Error, decode_fieldsv1, make_path, path_string
from kubelite.api.ssa.merge import Conflicts, ManagedFields, ManagerConflict, Updater, VersionedSet
from kubelite.api.ssa.schema import TypeInfo
from kubelite.api.ssa.typed import SchemaError, check, checked_comparison, compare, created_fieldsv1, field_set
from kubelite.api.validation import FIELD_MANAGER_MAX_LENGTH, GoStruct, go_json, go_quote

LAST_APPLIED_ANNOTATION: Final = "kubectl.kubernetes.io/last-applied-configuration"
DEFAULT_MAX_UPDATE_MANAGERS: Final = 10
ANCIENT_CHANGES_MANAGER: Final = "ancient-changes"
BEFORE_FIRST_APPLY_MANAGER: Final = "before-first-apply"
KUBECTL_MANAGER: Final = "kubectl"
TOTAL_ANNOTATION_SIZE_LIMIT: Final = 256 * 1024
OPERATION_APPLY: Final = "Apply"
OPERATION_UPDATE: Final = "Update"
FIELDS_V1: Final = "FieldsV1"

_CURRENT_OPERATION: Final = "current-operation"

HTTP_BAD_REQUEST: Final = 400
HTTP_CONFLICT: Final = 409
HTTP_INTERNAL_SERVER_ERROR: Final = 500

STRIPPED_FIELDS: Final = FieldSet(
    [
        make_path("apiVersion"),
        make_path("kind"),
        make_path("metadata"),
        make_path("metadata", "name"),
        make_path("metadata", "namespace"),
        make_path("metadata", "creationTimestamp"),
        make_path("metadata", "selfLink"),
        make_path("metadata", "uid"),
        make_path("metadata", "clusterName"),
        make_path("metadata", "generation"),
        make_path("metadata", "managedFields"),
        make_path("metadata", "resourceVersion"),
    ]
)
"""Fields no manager ever owns (upstream ``stripMetaManager``)."""


def default_reset_fields(subresource: str = "") -> FieldSet:
    """The fields writes through an endpoint never own, as most upstream strategies declare them.

    The main resource resets ``status`` and ``/status`` resets ``spec`` (custom resources with a
    status subresource do exactly this; some built-in kinds reset a few more fields, which their
    registry can pass instead). Objects without a status subresource reset nothing: pass an empty
    :class:`FieldSet` for them. The sets are shared: like every FieldSet they are never changed.
    """
    return _DEFAULT_RESET_FIELDS.get(subresource, _NO_FIELDS)


_NO_FIELDS: Final = FieldSet()
_DEFAULT_RESET_FIELDS: Final = {"": FieldSet([make_path("status")]), "status": FieldSet([make_path("spec")])}


# -- errors ---------------------------------------------------------------------------------------


class ManagedFieldsError(Exception):
    """A write that field management refuses; ``status`` is the HTTP status to answer with."""

    status: int = HTTP_INTERNAL_SERVER_ERROR

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status

    def to_status(self) -> dict[str, Any]:
        """The ``Status`` object upstream answers with."""
        reasons = {HTTP_BAD_REQUEST: "BadRequest", HTTP_CONFLICT: "Conflict", HTTP_INTERNAL_SERVER_ERROR: ""}
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
        }
        reason = reasons.get(self.status, "")
        if reason:
            status["reason"] = reason
        status["code"] = self.status
        return status


class ApplyError(ManagedFieldsError):
    """A server-side apply request that cannot be carried out (bad configuration, corrupt state)."""


@dataclass(frozen=True, slots=True)
class Conflict:
    """One field an apply would take from another manager."""

    manager: str
    """The other manager's name, e.g. "kubectl-client-side-apply"."""
    path: str
    """The field, upstream's path syntax, e.g. ``.spec.replicas`` or ``.spec.containers[name="c"].image``."""
    operation: str = OPERATION_UPDATE
    api_version: str = ""
    subresource: str = ""

    def describe_manager(self) -> str:
        """Upstream ``printManager``: ``"kubectl" using apps/v1`` for updaters, ``"kubectl"`` for appliers."""
        text = go_quote(self.manager)
        if self.subresource:
            text = f"{text} with subresource {go_quote(self.subresource)}"
        if self.operation == OPERATION_UPDATE:
            return f"{text} using {self.api_version}"
        return text


class ApplyConflict(ManagedFieldsError):
    """An apply that would change fields other managers own (HTTP 409); retry with force to take them."""

    status = HTTP_CONFLICT

    def __init__(self, conflicts: Iterable[Conflict | tuple[str, str]]) -> None:
        # Plain (manager, path) pairs are accepted too; like upstream's printManager for a manager that
        # is not an identifier, they print as just the quoted name.
        self.conflicts = [
            c if isinstance(c, Conflict) else Conflict(manager=c[0], path=c[1], operation="") for c in conflicts
        ]
        if not self.conflicts:
            raise ValueError("an apply conflict needs at least one conflicting field")
        super().__init__(_conflict_message(self.conflicts))

    def causes(self) -> list[dict[str, str]]:
        """The ``Status.details.causes``: one ``FieldManagerConflict`` per field."""
        return [
            {
                "reason": "FieldManagerConflict",
                "message": f"conflict with {conflict.describe_manager()}",
                "field": conflict.path,
            }
            for conflict in self.conflicts
        ]

    def to_status(self) -> dict[str, Any]:
        status = super().to_status()
        status["details"] = {"causes": self.causes()}
        return status


def _conflict_message(conflicts: list[Conflict]) -> str:
    """Upstream ``getConflictMessage``."""
    if len(conflicts) == 1:
        only = conflicts[0]
        return f"Apply failed with 1 conflict: conflict with {only.describe_manager()}: {only.path}"
    # Grouped by manager identifier (the JSON of manager, operation, apiVersion, subresource), sorted
    # as upstream sorts those strings.
    by_manager: dict[str, list[Conflict]] = {}
    for conflict in conflicts:
        identifier = manager_identifier(
            manager=conflict.manager, operation=conflict.operation, api_version=conflict.api_version,
            subresource=conflict.subresource,
        )
        by_manager.setdefault(identifier, []).append(conflict)
    lines: list[str] = []
    for identifier in sorted(by_manager):
        group = by_manager[identifier]
        lines.append(f"conflicts with {group[0].describe_manager()}:")
        lines.extend(f"- {conflict.path}" for conflict in group)
    return f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)


def _to_apply_conflict(conflicts: list[ManagerConflict]) -> ApplyConflict:
    out: list[Conflict] = []
    for conflict in conflicts:
        ident = _parse_identifier(conflict.manager)
        out.append(
            Conflict(
                manager=ident.get("manager", ""),
                path=path_string(conflict.path),
                operation=ident.get("operation", ""),
                api_version=ident.get("apiVersion", ""),
                subresource=ident.get("subresource", ""),
            )
        )
    return ApplyConflict(out)


# -- manager identifiers --------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)  # a handful of managers write most objects: their keys are reused
def manager_identifier(*, manager: str, operation: str, api_version: str = "", subresource: str = "") -> str:
    """Upstream ``BuildManagerIdentifier``: the JSON that keys one managedFields entry.

    Appliers are identified without their API version, so re-applying through another version
    still finds the fields applied before.
    """
    members: list[tuple[str, str]] = []
    if manager:
        members.append(("manager", manager))
    if operation:
        members.append(("operation", operation))
    if api_version and operation != OPERATION_APPLY:
        members.append(("apiVersion", api_version))
    if subresource:
        members.append(("subresource", subresource))
    return go_json(GoStruct(tuple(members)))


def _parse_identifier(identifier: str) -> dict[str, str]:
    return dict(_parsed_identifier(identifier))


@functools.lru_cache(maxsize=4096)
def _parsed_identifier(identifier: str) -> dict[str, str]:
    try:
        parsed = json.loads(identifier)
    except ValueError:
        return {"manager": identifier}
    return {key: value for key, value in parsed.items() if isinstance(value, str)} if isinstance(parsed, dict) else {}


@functools.lru_cache(maxsize=1024)  # clients send the same few user agents on every request
def default_field_manager(user_agent: str) -> str:
    """The manager of a write without ``fieldManager`` (upstream ``prefixFromUserAgent``).

    The user agent up to the first "/", without unprintable characters, cut to at most 128 bytes
    (e.g. "kubectl/v1.32.0 (linux/amd64) kubernetes/abc" -> "kubectl").
    """
    out: list[str] = []
    size = 0
    for ch in user_agent.split("/", 1)[0]:
        if not ch.isprintable():
            continue
        width = len(ch.encode("utf-8", "surrogatepass"))
        if size + width > FIELD_MANAGER_MAX_LENGTH:
            break
        out.append(ch)
        size += width
    return "".join(out)


# -- managedFields encoding -----------------------------------------------------------------------


@dataclass(slots=True)
class Managed:
    """Decoded managed fields: what each manager identifier owns and when it last changed something."""

    fields: ManagedFields = field(default_factory=dict)
    times: dict[str, datetime | None] = field(default_factory=dict)

    def copy(self) -> Managed:
        return Managed(dict(self.fields), dict(self.times))


class ManagedFieldsDecodeError(ValueError):
    """``metadata.managedFields`` that cannot be decoded."""


_ENTRY_STRINGS: Final = ("manager", "operation", "apiVersion", "fieldsType", "subresource")


def _parse_time(value: JSON, *, where: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ManagedFieldsDecodeError(f"{where}.time: must be an RFC 3339 string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ManagedFieldsDecodeError(f"{where}.time: {value!r} is not an RFC 3339 time") from None
    if parsed.tzinfo is None:
        raise ManagedFieldsDecodeError(f"{where}.time: {value!r} has no time zone")
    return parsed.astimezone(UTC)


def format_time(moment: datetime) -> str:
    """``metav1.Time`` JSON: RFC 3339 in UTC, whole seconds."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    elif moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    # the writes of one second stamp the same text: it is made once, and found again by two
    # comparisons with that second's bounds
    global _last_time
    start, end, text = _last_time
    if start <= moment < end:
        return text
    start = moment.replace(microsecond=0)
    # strftime's %Y does not zero-pad years before 1000 on every platform.
    text = (
        f"{start.year:04d}-{start.month:02d}-{start.day:02d}"
        f"T{start.hour:02d}:{start.minute:02d}:{start.second:02d}Z"
    )
    try:
        end = start + _ONE_SECOND
    except OverflowError:  # the last second of year 9999: not memoized
        return text
    _last_time = (start, end, text)
    return text


_ONE_SECOND: Final = timedelta(seconds=1)
_last_time: tuple[datetime, datetime, str] = (datetime.max.replace(tzinfo=UTC), datetime.min.replace(tzinfo=UTC), "")


def _seconds(moment: datetime | None) -> int:
    return int(moment.timestamp()) if moment is not None else 0


def decode_managed_fields(entries: JSON) -> Managed:
    """Upstream ``DecodeManagedFields``; raises :class:`ManagedFieldsDecodeError`."""
    managed = Managed()
    if entries is None:
        return managed
    if not isinstance(entries, list):
        raise ManagedFieldsDecodeError("metadata.managedFields must be a list")
    for index, entry in enumerate(entries):
        where = f"metadata.managedFields[{index}]"
        if not isinstance(entry, Mapping):
            raise ManagedFieldsDecodeError(f"{where}: must be an object")
        for name in _ENTRY_STRINGS:
            if entry.get(name) is not None and not isinstance(entry[name], str):
                raise ManagedFieldsDecodeError(f"{where}.{name}: must be a string")
        operation = entry.get("operation") or ""
        if operation not in (OPERATION_APPLY, OPERATION_UPDATE):
            raise ManagedFieldsDecodeError("operation must be `Apply` or `Update`")
        api_version = entry.get("apiVersion") or ""
        if not api_version:
            raise ManagedFieldsDecodeError("apiVersion must not be empty")
        fields_type = entry.get("fieldsType") or ""
        if fields_type == "":
            raise ManagedFieldsDecodeError(f"missing fieldsType in managed fields entry {index}")
        if fields_type != FIELDS_V1:
            raise ManagedFieldsDecodeError(
                f"invalid fieldsType {go_quote(fields_type)} in managed fields entry {index}"
            )
        identifier = manager_identifier(
            manager=entry.get("manager") or "",
            operation=operation,
            api_version=api_version,
            subresource=entry.get("subresource") or "",
        )
        raw = entry.get("fieldsV1")
        try:
            owned = decode_fieldsv1({} if raw is None else raw)
        except FieldsV1Error as exc:
            raise ManagedFieldsDecodeError(f"{where}.fieldsV1: {exc}") from None
        # A repeated identifier replaces the earlier entry, as upstream's map assignment does.
        managed.fields[identifier] = VersionedSet(owned, api_version, operation == OPERATION_APPLY)
        managed.times[identifier] = _parse_time(entry.get("time"), where=where)
    return managed


def encode_managed_fields(managed: Managed) -> list[dict[str, Any]] | None:
    """Upstream ``encodeManagedFields``: the entries, sorted as upstream sorts them (None if none)."""
    if not managed.fields:
        return None
    entries: list[tuple[tuple[str, int, str, str, str], dict[str, Any]]] = []
    for identifier, owned in managed.fields.items():
        moment = managed.times.get(identifier)
        entry = _encoded_entry(identifier, owned.api_version, owned.applied, moment, owned.fields.to_fieldsv1())
        ident = _parse_identifier(identifier)
        key = (entry.get("operation", ""), _seconds(moment), ident.get("manager", ""), owned.api_version,
               ident.get("subresource", ""))
        entries.append((key, entry))
    entries.sort(key=lambda pair: pair[0])
    return [entry for _, entry in entries]


def _encoded_entry(identifier: str, api_version: str, applied: bool, moment: datetime | None,
                   fields_v1: dict[str, Any]) -> dict[str, Any]:
    """One ``managedFields`` entry (``ManagedFieldsEntry``), members in upstream's order."""
    ident = _parse_identifier(identifier)
    operation = OPERATION_APPLY if applied else ident.get("operation", "")
    entry: dict[str, Any] = {}
    if ident.get("manager"):
        entry["manager"] = ident["manager"]
    if operation:
        entry["operation"] = operation
    if api_version:
        entry["apiVersion"] = api_version
    if moment is not None:
        entry["time"] = format_time(moment)
    entry["fieldsType"] = FIELDS_V1
    entry["fieldsV1"] = fields_v1
    if ident.get("subresource"):
        entry["subresource"] = ident["subresource"]
    return entry


def _is_reset(entries: JSON) -> bool:
    """``isResetManagedFields``: ``[]`` or ``[{}]`` asks for the managed fields to be reset."""
    if not isinstance(entries, list):
        return False
    if not entries:
        return True
    if len(entries) == 1 and isinstance(entries[0], Mapping):
        only = entries[0]
        return all(only.get(name) in (None, "") for name in _ENTRY_STRINGS) and only.get("time") is None and (
            only.get("fieldsV1") is None
        )
    return False


def _is_map(value: JSON) -> TypeGuard[Mapping[str, Any]]:
    """``isinstance(value, Mapping)``, answered without the ABC machinery for the common dict."""
    return type(value) is dict or isinstance(value, Mapping)


def _managed_fields_of(obj: JSON) -> JSON:
    metadata = obj.get("metadata") if _is_map(obj) else None
    return metadata.get("managedFields") if _is_map(metadata) else None


def _set_managed_fields(obj: dict[str, Any], entries: list[dict[str, Any]] | None) -> None:
    metadata = obj.get("metadata")
    if entries is None:
        if isinstance(metadata, dict):
            metadata.pop("managedFields", None)
        return
    if not isinstance(metadata, dict):
        metadata = obj["metadata"] = {}
    metadata["managedFields"] = entries


def _decode_or_empty(entries: JSON) -> Managed:
    try:
        return decode_managed_fields(entries)
    except ManagedFieldsDecodeError:
        return Managed()


def _starting_managed_fields(old: JSON, new: JSON, *, ignore_request: bool) -> Managed:
    """``decodeLiveOrNew``: the request's managed fields if usable, else the stored ones.

    A request may replace the managed fields (reset them with ``[]``); one that sends none, or
    entries that do not decode, keeps the stored ones, so that clients unaware of managed fields
    never erase them. Subresources always keep the stored ones.
    """
    if ignore_request:
        return _decode_or_empty(_managed_fields_of(old))
    sent = _managed_fields_of(new)
    if _is_reset(sent):
        return Managed()
    try:
        managed = decode_managed_fields(sent)
    except ManagedFieldsDecodeError:
        managed = Managed()
    if not managed.fields:
        return _decode_or_empty(_managed_fields_of(old))
    return managed


# -- the manager chain ----------------------------------------------------------------------------


class _Request(NamedTuple):
    """What one write is: its schema, endpoint and time (immutable; built on every write)."""

    info: TypeInfo
    api_version: str
    subresource: str
    reset_fields: FieldSet
    now: datetime

    @property
    def updater(self) -> Updater:
        return Updater(self.info, None if self.reset_fields.is_empty() else self.reset_fields)

    def identifier(self, manager: str, operation: str) -> str:
        """``buildManagerInfo``."""
        return manager_identifier(
            manager=manager or "unknown", operation=operation, api_version=self.api_version,
            subresource=self.subresource,
        )


def _strip(managed: Managed, manager: str) -> None:
    """``stripMetaManager``: drop fields nobody may own from the writer's entry."""
    owned = managed.fields.get(manager)
    if owned is None:
        return
    rest = owned.fields.difference(STRIPPED_FIELDS)
    if rest.is_empty():
        del managed.fields[manager]
    else:
        managed.fields[manager] = VersionedSet(rest, owned.api_version, owned.applied)


def _object_description(obj: JSON) -> str:
    """Upstream ``objectGVKNN``: ``namespace/name; group/version, Kind=kind``."""
    metadata = obj.get("metadata") if isinstance(obj, Mapping) else None
    metadata = metadata if isinstance(metadata, Mapping) else {}
    return f"{metadata.get('namespace', '')}/{metadata.get('name', '')}; {_gvk_string(obj)}"


def _gvk_string(obj: JSON) -> str:
    """``GroupVersionKind.String`` of an object: ``apps/v1, Kind=Deployment``, ``/v1, Kind=Pod``."""
    api_version = obj.get("apiVersion") if isinstance(obj, Mapping) else None
    kind = obj.get("kind") if isinstance(obj, Mapping) else None
    api_version = api_version if isinstance(api_version, str) else ""
    kind = kind if isinstance(kind, str) else ""
    parts = api_version.split("/")
    if api_version == "" or len(parts) > 2:
        group, version = "", ""  # unparsable: upstream's unstructured GVK is empty
    elif len(parts) == 1:
        group, version = "", parts[0]
    else:
        group, version = parts
    return f"{group}/{version}, Kind={kind}"


def _structured_update(request: _Request, old: JSON, new: JSON, managed: Managed, manager: str) -> Managed:
    """``structuredMergeManager.Update``; raises ManagedFieldsError for objects the schema rejects."""
    comparison = checked_comparison(request.info, old, new)
    if comparison is not None:
        return Managed(request.updater.update(live=old, new=new, api_version=request.api_version,
                                              managers=managed.fields, manager=manager, comparison=comparison),
                       managed.times)
    # something does not fit: the general path says what, with upstream's messages
    try:
        check(request.info, new, allow_duplicates=True)
    except SchemaError as exc:
        raise ManagedFieldsError(f"failed to convert new object ({_object_description(new)}) to smd typed: {exc}")
    try:
        check(request.info, old, allow_duplicates=True)
    except SchemaError as exc:
        raise ManagedFieldsError(f"failed to convert live object ({_object_description(old)}) to smd typed: {exc}")
    try:
        fields = request.updater.update(
            live=old, new=new, api_version=request.api_version, managers=managed.fields, manager=manager
        )
    except SchemaError as exc:
        raise ManagedFieldsError(f"failed to update ManagedFields ({_object_description(new)}): {exc}")
    return Managed(fields, managed.times)


def _tracked_update(request: _Request, old: JSON, new: JSON, managed: Managed, manager: str) -> Managed:
    """Cap(BuildManagerInfo(ManagedFieldsUpdater(StripMeta(StructuredMerge)))) for an update."""
    identifier = request.identifier(manager, OPERATION_UPDATE)
    # The write is recorded under a placeholder so that its own changes can be told apart from what
    # the writer owned before; then the two are merged and stamped, if it changed anything.
    managed = _structured_update(request, old, new, managed.copy(), _CURRENT_OPERATION)
    _strip(managed, _CURRENT_OPERATION)
    current = managed.fields.pop(_CURRENT_OPERATION, None)
    if current is not None:
        previous = managed.fields.get(identifier)
        owned = current.fields if previous is None else current.fields.union(previous.fields)
        managed.fields[identifier] = VersionedSet(owned, current.api_version, current.applied)
        managed.times[identifier] = request.now
    return cap_update_managers(managed, limit=DEFAULT_MAX_UPDATE_MANAGERS)


def _created_managed_fields(request: _Request, new: JSON, manager: str) -> list[dict[str, Any]] | None:
    """The create case of :func:`_tracked_update` (no stored object, no managers yet), in one walk.

    The creator owns every field the object sets (``compare({}, new).added``, see
    :func:`~kubelite.api.ssa.typed.created_fieldsv1`) but the reset and stripped ones. The general
    path computes the same through two validations, a comparison, the ownership merge and the
    encoding of a :class:`FieldSet`; here the walk writes the FieldsV1 object directly
    (:func:`~kubelite.api.ssa.typed.created_fieldsv1`) and the reset and stripped fields are taken
    out of it as the set differences would. ``None`` when the object does not fit its schema, where
    that path keeps no managed fields.
    """
    fields = created_fieldsv1(request.info, new)
    if fields is None:
        return None
    _remove_subtrees_v1(fields, _reset_plan(request.reset_fields))
    _remove_members_v1(fields, _STRIPPED_PLAN)
    if not fields:
        return None
    identifier = request.identifier(manager, OPERATION_UPDATE)
    return [_encoded_entry(identifier, request.api_version, False, request.now, fields)]


# FieldsV1 nodes (as the walk above writes them) are dicts: a leaf member is ``{}``, a node with
# members below it has them as keys and ``"."`` when it is a member itself. The functions below are
# FieldSet.recursive_difference and FieldSet.difference on that form, in place: like those, they keep
# no node without members below it, and the keys stay in their (sorted) order. The removed set is
# read as a plan: its members' FieldsV1 keys, and the plans of its children.

_Plan: TypeAlias = tuple[tuple[str, ...], tuple[tuple[str, "_Plan"], ...]]


def _plan(fields: FieldSet) -> _Plan:
    return (tuple(element.serialize() for element in fields._members),
            tuple((element.serialize(), _plan(child)) for element, child in fields._children.items()))


def _remove_subtrees_v1(node: dict[str, Any], plan: _Plan) -> None:
    """``node`` without the members of the planned set and everything below them (``recursive_difference``)."""
    members, children = plan
    for key in members:
        node.pop(key, None)
    for key, below in children:
        if key not in members:
            _prune_child(node, key, below, _remove_subtrees_v1)


def _remove_members_v1(node: dict[str, Any], plan: _Plan) -> None:
    """``node`` without the members of the planned set; what is below them stays (``difference``)."""
    members, children = plan
    for key in members:
        child = node.get(key)
        if child is not None:
            if child:
                child.pop(".", None)  # no longer a member; its children stay
            else:
                del node[key]
    for key, below in children:
        _prune_child(node, key, below, _remove_members_v1)


def _prune_child(node: dict[str, Any], key: str, plan: _Plan,
                 remove: Callable[[dict[str, Any], _Plan], None]) -> None:
    child = node.get(key)
    if not child:
        return  # absent, or a leaf member: removing below it changes nothing
    remove(child, plan)
    if not child:
        del node[key]  # nothing left below, and not a member
    elif len(child) == 1 and "." in child:
        node[key] = {}  # a member with nothing left below it is a leaf


_STRIPPED_PLAN: Final = _plan(STRIPPED_FIELDS)
# the default reset sets are shared constants: their plans are made once (keyed by identity; the
# sets live as long as the module, so their ids are never reused)
_RESET_PLANS: Final = {id(fields): (fields, _plan(fields)) for fields in (*_DEFAULT_RESET_FIELDS.values(), _NO_FIELDS)}


def _reset_plan(fields: FieldSet) -> _Plan:
    known = _RESET_PLANS.get(id(fields))
    return known[1] if known is not None and known[0] is fields else _plan(fields)


def cap_update_managers(managed: Managed, *, limit: int) -> Managed:
    """``capManagersManager.capUpdateManagers``: merge the oldest update entries per API version.

    While there are more than ``limit`` update entries, the oldest entry of each API version after
    the first one seen is merged into that version's ``ancient-changes`` entry (created from the
    first one). Apply entries are never merged.
    """
    updaters = [identifier for identifier, owned in managed.fields.items() if not owned.applied]
    if len(updaters) <= limit:
        return managed
    updaters.sort(key=lambda identifier: (_seconds(managed.times.get(identifier)), identifier))
    first_of_version: dict[str, str] = {}
    remaining = len(updaters)
    for identifier in updaters:
        if remaining <= limit:
            break
        owned = managed.fields[identifier] if identifier in managed.fields else None
        if owned is None:
            continue
        moment = managed.times.get(identifier)
        version = owned.api_version
        bucket = manager_identifier(manager=ANCIENT_CHANGES_MANAGER, operation=OPERATION_UPDATE, api_version=version)
        first = first_of_version.get(version)
        if first is None:
            first_of_version[version] = identifier
            continue
        if bucket not in managed.fields:
            managed.fields[bucket] = managed.fields.pop(first)
        managed.fields[bucket] = VersionedSet(
            owned.fields.union(managed.fields[bucket].fields), owned.api_version, owned.applied
        )
        del managed.fields[identifier]
        remaining -= 1
        # The bucket takes the time of the newest entry merged into it.
        managed.times[bucket] = moment
    return managed


def _allowed_by_last_applied(request: _Request, live: JSON) -> FieldSet | None:
    """``allowedConflictsFromLastApplied``: the fields client-side apply set and still match."""
    metadata = live.get("metadata") if isinstance(live, Mapping) else None
    annotations = metadata.get("annotations") if isinstance(metadata, Mapping) else None
    text = annotations.get(LAST_APPLIED_ANNOTATION) if isinstance(annotations, Mapping) else None
    if not isinstance(text, str) or not text:
        return None
    try:
        last_applied = json.loads(text)
    except ValueError:
        return None
    if not isinstance(last_applied, dict) or last_applied.get("apiVersion") != request.api_version:
        return None
    try:
        check(request.info, live)
        check(request.info, last_applied)
        fields = field_set(request.info, last_applied)
        comparison = compare(request.info, last_applied, live)
    except SchemaError:
        return None
    # What client-side apply last set but the object no longer has as set is not the applier's.
    return fields.difference(comparison.modified).difference(comparison.added).difference(comparison.removed)


def _build_last_applied(config: JSON) -> str:
    """``buildLastApplied``: the configuration without the annotation, as Go's JSON encoder writes it."""
    body = copy.deepcopy(config)
    metadata = body.get("metadata") if isinstance(body, dict) else None
    if isinstance(metadata, dict) and isinstance(metadata.get("annotations"), dict):
        metadata["annotations"].pop(LAST_APPLIED_ANNOTATION, None)
    return go_json(body) + "\n"


def _sync_last_applied(obj: dict[str, Any], config: JSON) -> None:
    """``lastAppliedUpdater``: rewrite an existing client-side apply annotation after an apply."""
    metadata = obj.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    if not isinstance(annotations, dict) or not annotations.get(LAST_APPLIED_ANNOTATION):
        return
    annotations[LAST_APPLIED_ANNOTATION] = _build_last_applied(config)
    size = sum(len(key.encode()) + len(str(value).encode()) for key, value in annotations.items())
    if size > TOTAL_ANNOTATION_SIZE_LIMIT:
        # Too big to keep (ValidateAnnotationsSize); dropping it beats failing the apply.
        del annotations[LAST_APPLIED_ANNOTATION]


def _structured_apply(
    request: _Request, live: JSON, config: JSON, managed: Managed, manager: str, *, force: bool
) -> tuple[JSON, Managed]:
    """BuildManagerInfo(ManagedFieldsUpdater(StripMeta(StructuredMerge))) for an apply."""
    identifier = request.identifier(manager, OPERATION_APPLY)
    managed = managed.copy()
    # (The version check of this layer is unreachable: apply() checks the whole kind first.)
    if isinstance(_managed_fields_of(config), list):
        raise ApplyError("metadata.managedFields must be nil", status=HTTP_BAD_REQUEST)
    try:
        check(request.info, config)
    except SchemaError as exc:
        raise ApplyError(
            f"failed to create typed patch object ({_object_description(config)}): {exc}", status=HTTP_BAD_REQUEST
        )
    try:
        check(request.info, live, allow_duplicates=True)
    except SchemaError as exc:
        raise ApplyError(f"failed to create typed live object ({_object_description(live)}): {exc}")
    try:
        new, fields = request.updater.apply(
            live=live, config=config, api_version=request.api_version, managers=managed.fields, manager=identifier,
            force=force,
        )
    except SchemaError as exc:
        raise ApplyError(f"failed to merge config: {exc}")
    managed = Managed(fields, managed.times)
    _strip(managed, identifier)
    if new is not None:
        managed.times[identifier] = request.now
    return new, managed


def _apply_with_tracking(
    request: _Request, live: JSON, config: JSON, managed: Managed, manager: str, *, force: bool
) -> tuple[JSON, Managed]:
    """SkipNonApplied(CapManagers(...)): an untracked object's fields go to "before-first-apply"."""
    if not managed.fields:
        try:
            managed = _tracked_update(request, {}, live, managed, BEFORE_FIRST_APPLY_MANAGER)
        except ManagedFieldsError as exc:
            raise ApplyError(f"failed to create manager for existing fields: {exc}")
    return _structured_apply(request, live, config, managed, manager, force=force)


def _apply_last_applied_aware(
    request: _Request, live: JSON, config: JSON, managed: Managed, manager: str, *, force: bool
) -> tuple[JSON, Managed]:
    """``lastAppliedManager``: kubectl taking over from client-side apply gets no conflicts for its own fields."""
    try:
        return _apply_with_tracking(request, live, config, managed, manager, force=force)
    except Conflicts as conflicts:
        if manager != KUBECTL_MANAGER:
            raise
        allowed = _allowed_by_last_applied(request, live)
        if allowed is None:
            raise
        if not conflicts.field_set().difference(allowed).is_empty():
            raise Conflicts([c for c in conflicts.conflicts if not allowed.has(c.path)]) from None
        return _apply_with_tracking(request, live, config, managed, manager, force=True)


# -- public entry points --------------------------------------------------------------------------


def _utc(now: datetime) -> datetime:
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)


def apply(
    *,
    live: JSON,
    config: JSON,
    manager: str,
    api_version: str,
    force: bool,
    type_info: TypeInfo,
    now: datetime,
    kind: str = "",
    subresource: str = "",
    reset_fields: FieldSet | None = None,
) -> dict[str, Any]:
    """A server-side apply (``PATCH`` with ``application/apply-patch+yaml``): the new object.

    ``live`` is the stored object (``{}`` when apply creates it), ``config`` the applied configuration
    (decoded), ``manager`` the ``fieldManager`` parameter, ``api_version`` and ``kind`` what the
    endpoint serves (``kind`` "" skips the kind check), ``force`` the ``force`` parameter.
    ``reset_fields`` are the fields this endpoint never lets anyone own (default:
    :func:`default_reset_fields`). The result is the merged object with ``metadata.managedFields``
    updated; it still needs the endpoint's defaulting, admission and validation.

    Raises :class:`ApplyConflict` (409) when the configuration changes fields other managers own
    and ``force`` is false, and :class:`ApplyError` (400 for a bad configuration, 500 for stored
    state it cannot work with).
    """
    if not isinstance(config, Mapping):
        raise ApplyError("the applied configuration must be a JSON object", status=HTTP_BAD_REQUEST)
    if not isinstance(live, Mapping):
        raise ApplyError("the live object must be a JSON object")
    expected_kind = kind or config.get("kind")
    if config.get("apiVersion") != api_version or config.get("kind") != expected_kind:
        raise ApplyError(f"invalid object type: {_gvk_string(config)}", status=HTTP_BAD_REQUEST)
    try:
        managed = decode_managed_fields(_managed_fields_of(live))
    except ManagedFieldsDecodeError as exc:
        raise ApplyError(f"failed to decode managed fields: {exc}")
    request = _Request(
        info=type_info,
        api_version=api_version,
        subresource=subresource,
        reset_fields=default_reset_fields(subresource) if reset_fields is None else reset_fields,
        now=_utc(now),
    )
    try:
        new, managed = _apply_last_applied_aware(request, live, config, managed, manager, force=force)
    except Conflicts as conflicts:
        raise _to_apply_conflict(conflicts.conflicts) from None
    result: dict[str, Any] = copy.deepcopy(dict(live) if new is None else new)
    _set_managed_fields(result, None)
    if manager == KUBECTL_MANAGER:
        _sync_last_applied(result, config)
    _set_managed_fields(result, encode_managed_fields(managed))
    return result


def update(
    *,
    old: JSON,
    new: JSON,
    manager: str,
    api_version: str,
    subresource: str = "",
    type_info: TypeInfo,
    now: datetime,
    reset_fields: FieldSet | None = None,
) -> dict[str, Any]:
    """A create, update or non-apply patch: ``new`` with its ``metadata.managedFields`` recorded.

    ``old`` is the stored object, ``{}`` (or anything without ``metadata.uid``) for a create;
    ``manager`` is the ``fieldManager`` parameter or :func:`default_field_manager` of the user
    agent. ``new`` may carry managed fields of its own: a decodable non-empty list replaces the
    stored one, ``[]`` or ``[{}]`` resets them, anything else keeps the stored ones. Objects whose
    fields were never tracked start being tracked on create or at their first apply, not on update.

    Never raises for bad state: when ownership cannot be computed the stored managed fields are
    kept, as upstream's ``UpdateNoErrors`` does.
    """
    if not _is_map(new):
        raise TypeError("new must be a JSON object")
    # Only metadata.managedFields of the result changes: copy the levels above it, share the rest.
    result: dict[str, Any] = dict(new)
    if _is_map(result.get("metadata")):
        result["metadata"] = dict(result["metadata"])
    old_obj: JSON = old if _is_map(old) else {}
    if not old_obj and _managed_fields_of(result) is None:
        managed = Managed()  # a create that sends none: what _starting_managed_fields gives, directly
    else:
        managed = _starting_managed_fields(old_obj, result, ignore_request=subresource != "")
    _set_managed_fields(result, None)
    metadata = old_obj.get("metadata")
    has_uid = _is_map(metadata) and bool(metadata.get("uid"))
    if not managed.fields and has_uid:
        # Never tracked (e.g. created before tracking, or reset): tracking starts at the first apply.
        return result
    request = _Request(
        info=type_info,
        api_version=api_version,
        subresource=subresource,
        reset_fields=default_reset_fields(subresource) if reset_fields is None else reset_fields,
        now=_utc(now),
    )
    if not old_obj and not managed.fields:
        _set_managed_fields(result, _created_managed_fields(request, result, manager))
        return result
    try:
        managed = _tracked_update(request, old_obj, result, managed, manager)
    except ManagedFieldsError:
        stored = _managed_fields_of(old_obj)
        _set_managed_fields(result, copy.deepcopy(stored) if isinstance(stored, list) else None)
        return result
    _set_managed_fields(result, encode_managed_fields(managed))
    return result
