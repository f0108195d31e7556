"""Who owns what after an update or an apply: upstream's ``merge.Updater``.

Port of sigs.k8s.io/structured-merge-diff ``merge`` (update.go, conflict.go) and of the
``ManagedFields``/``VersionedSet`` types of ``fieldpath/managers.go``.

* :meth:`Updater.update` -- a non-apply write (create, update, patch): the writer takes ownership of
  every field it changed or added, fields it removed leave everyone's set, and other managers lose
  the fields it changed (no conflicts: an update always wins).
* :meth:`Updater.apply` -- a server-side apply: the configuration is merged over the live object;
  fields the applier owned before and no longer sets are pruned unless someone else owns them;
  changing a field another manager owns is a conflict unless ``force`` is given, in which case the
  ownership moves.

Managers are opaque strings here (the API server uses JSON manager identifiers). Objects of other API
versions than the request's are compared as they are: kubelite serves each kind in one version, so
the version converter upstream plugs in here is the identity.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kubelite.api.ssa.fieldpath import JSON, FieldSet, Path, path_string, values_equal
from kubelite.api.ssa.schema import TypeInfo
from kubelite.api.ssa.typed import (
    ABSENT,
    Comparison,
    compare,
    ensure_named_fields_are_members,
    field_set,
    merge,
    reconcile_field_set,
    remove_items,
)


@dataclass(frozen=True, slots=True)
class VersionedSet:
    """What one manager owns, in which API version, and whether it got there by applying."""

    fields: FieldSet
    api_version: str
    applied: bool


ManagedFields = dict[str, VersionedSet]
"""Manager -> what it owns (``fieldpath.ManagedFields``)."""


@dataclass(frozen=True, slots=True)
class ManagerConflict:
    """One field an apply would take from another manager (``merge.Conflict``)."""

    manager: str
    path: Path

    def __str__(self) -> str:
        return f"conflict with {self.manager!r}: {path_string(self.path)}"


class Conflicts(Exception):
    """An apply that would change fields other managers own (``merge.Conflicts``)."""

    def __init__(self, conflicts: list[ManagerConflict]) -> None:
        self.conflicts = conflicts
        super().__init__("; ".join(str(conflict) for conflict in conflicts))

    def field_set(self) -> FieldSet:
        """All conflicting paths, whoever owns them."""
        return FieldSet(conflict.path for conflict in self.conflicts)


def conflicts_from_managers(sets: Mapping[str, VersionedSet]) -> list[ManagerConflict]:
    """``ConflictsFromManagers``: one conflict per owned path, managers in sorted order."""
    # Upstream walks a Go map (random order); sorted managers make the result reproducible.
    return [ManagerConflict(manager, path) for manager in sorted(sets) for path in sets[manager].fields]


@dataclass(frozen=True, slots=True)
class Updater:
    """Computes managed fields for updates and merges applied configurations.

    ``ignored`` is the set of fields no manager ever owns through this endpoint: upstream's reset
    fields (``status`` on the main resource, ``spec`` on ``/status``), which the API server's
    strategies overwrite anyway.
    """

    info: TypeInfo
    ignored: FieldSet | None = None

    def _filter(self, fields: FieldSet) -> FieldSet:
        return fields if self.ignored is None else fields.recursive_difference(self.ignored)

    def _reconcile(self, live: JSON, managers: ManagedFields) -> ManagedFields:
        """``reconcileManagedFieldsWithSchemaChanges``."""
        result: ManagedFields = {}
        for manager, owned in managers.items():
            reconciled = reconcile_field_set(owned.fields, self.info)
            result[manager] = (
                owned if reconciled is None else VersionedSet(reconciled, owned.api_version, owned.applied)
            )
        return result

    def _ownership(
        self, old: JSON, new: JSON, managers: ManagedFields, workflow: str, *, force: bool,
        comparison: Comparison | None = None,
    ) -> tuple[ManagedFields, Comparison]:
        """``Updater.update``: take what ``workflow`` changed from the other managers."""
        if comparison is None:
            comparison = compare(self.info, old, new)
        comparison = comparison.exclude(self.ignored)
        changed = comparison.modified.union(comparison.added)
        conflicts: ManagedFields = {}
        removed: ManagedFields = {}
        for manager, owned in managers.items():
            if manager == workflow:
                continue
            overlap = owned.fields.intersection(changed)
            if not overlap.is_empty():
                conflicts[manager] = VersionedSet(overlap, owned.api_version, False)
            if not comparison.removed.is_empty():
                removed[manager] = VersionedSet(comparison.removed, owned.api_version, False)
        if not force and conflicts:
            raise Conflicts(conflicts_from_managers(conflicts))
        result = dict(managers)
        for manager, lost in conflicts.items():
            owned = result[manager]
            result[manager] = VersionedSet(owned.fields.difference(lost.fields), owned.api_version, owned.applied)
        for manager, lost in removed.items():
            owned = result[manager]
            result[manager] = VersionedSet(owned.fields.difference(lost.fields), owned.api_version, owned.applied)
        return {manager: owned for manager, owned in result.items() if not owned.fields.is_empty()}, comparison

    def update(
        self, *, live: JSON, new: JSON, api_version: str, managers: ManagedFields, manager: str,
        comparison: Comparison | None = None,
    ) -> ManagedFields:
        """Ownership after ``manager`` wrote ``new`` over ``live`` (``Updater.Update``).

        ``comparison`` is ``compare(live, new)`` when the caller has it already.
        """
        managers = self._reconcile(live, managers)
        managers, comparison = self._ownership(live, new, managers, manager, force=True, comparison=comparison)
        previous = managers.get(manager)
        owned = previous.fields if previous is not None else FieldSet()
        owned = owned.difference(comparison.removed).union(comparison.modified).union(comparison.added)
        owned = self._filter(owned)
        if owned.is_empty():
            managers.pop(manager, None)
        else:
            managers[manager] = VersionedSet(owned, api_version, False)
        return managers

    def apply(
        self, *, live: JSON, config: JSON, api_version: str, managers: ManagedFields, manager: str, force: bool
    ) -> tuple[JSON, ManagedFields]:
        """The merged object and ownership after ``manager`` applied ``config`` (``Updater.Apply``).

        Returns ``(None, managers)`` when the object does not change. Raises :class:`Conflicts`
        (unless ``force``) and ``SchemaError`` for objects that do not fit the schema.
        """
        managers = self._reconcile(live, managers)
        merged = merge(self.info, live, config)
        new = {} if merged is ABSENT else merged
        last = managers.get(manager)
        managers = dict(managers)
        managers[manager] = VersionedSet(self._filter(field_set(self.info, config)), api_version, True)
        new = self._prune(new, managers, manager, last)
        managers, _ = self._ownership(live, new, managers, manager, force=force)
        if values_equal(live, new):
            return None, managers
        return new, managers

    def _prune(self, merged: JSON, managers: ManagedFields, applier: str, last: VersionedSet | None) -> JSON:
        """Remove what ``applier`` applied last time, no longer applies, and nobody else owns."""
        if last is None or last.fields.is_empty():
            return merged
        info = self.info
        pruned = remove_items(info, merged, ensure_named_fields_are_members(last.fields, info))
        pruned = self._add_back_owned(merged, pruned, managers)
        return self._add_back_dangling(merged, pruned, last)

    def _add_back_owned(self, merged: JSON, pruned: JSON, managers: ManagedFields) -> JSON:
        """``addBackOwnedItems``: restore what any manager (the applier's new set included) owns."""
        info = self.info
        managed = FieldSet()
        for owned in managers.values():
            managed = managed.union(owned.fields)
        merged_set = ensure_named_fields_are_members(field_set(info, merged), info)
        pruned_set = ensure_named_fields_are_members(field_set(info, pruned), info)
        keep = pruned_set.union(ensure_named_fields_are_members(managed, info))
        return remove_items(info, merged, merged_set.difference(keep))

    def _add_back_dangling(self, merged: JSON, pruned: JSON, last: VersionedSet) -> JSON:
        """``addBackDanglingItems``: only remove what the applier really owned last time."""
        info = self.info
        pruned_set = ensure_named_fields_are_members(field_set(info, pruned), info)
        merged_set = ensure_named_fields_are_members(field_set(info, merged), info)
        last_set = ensure_named_fields_are_members(last.fields, info)
        return remove_items(info, merged, merged_set.difference(pruned_set).intersection(last_set))
