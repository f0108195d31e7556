"""The audit log: one ``audit.k8s.io/v1`` Event per request, as JSON lines, chosen by a policy.

Design
------
Upstream's log backend (``--audit-log-path``) and policy (``--audit-policy-file``, ``audit.k8s.io/v1``
``Policy``): rules are tried in order and the first whose ``users``, ``userGroups``, ``verbs``,
``resources`` (group + resources, ``pods/log`` style subresources, ``resourceNames``), ``namespaces``
and ``nonResourceURLs`` all match gives the level; no matching rule means ``None`` (not logged).
With a log path but no policy file kubelite logs every request at ``Metadata``.

Levels: ``Metadata`` (who, what, when, the response code), ``Request`` (plus the request body),
``RequestResponse`` (plus the response body). One event per request at stage ``ResponseComplete``
(``omitStages`` may drop it); a watch is logged when it ends. Annotations: the authorizer's decision
and reason, and what admission plugins added (PodSecurity's ``pod-security.kubernetes.io/*``). The file
is opened in append mode, created 0600, and each event is one ``write`` of a complete line, so a crash
never leaves half a line in the middle of the log.

Rotation as upstream's (lumberjack): a write that would take the file past ``--audit-log-maxsize``
megabytes (0: lumberjack's 100) first renames it to ``<name>-<UTC time>.<ext>`` and starts a new one;
then backups beyond ``--audit-log-maxbackup`` (0: all kept) or older than ``--audit-log-maxage`` days
(0: any age) are removed. ``--audit-log-path -`` writes to standard output.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

import yaml

from kubelite.controlplane.auth.authorization import Attributes

Obj = dict[str, Any]

LEVELS: Final = ("None", "Metadata", "Request", "RequestResponse")


class AuditPolicyError(ValueError):
    """The policy file cannot be used; the message names the file and the rule."""


@dataclass(frozen=True)
class Rule:
    level: str
    users: tuple[str, ...] = ()
    user_groups: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ()
    resources: tuple[Obj, ...] = ()
    namespaces: tuple[str, ...] = ()
    non_resource_urls: tuple[str, ...] = ()
    omit_stages: tuple[str, ...] = ()

    def matches(self, attributes: Attributes) -> bool:
        user = attributes.user
        if self.users and user.name not in self.users:
            return False
        if self.user_groups and not set(self.user_groups) & set(user.groups):
            return False
        if self.verbs and attributes.verb not in self.verbs:
            return False
        if attributes.resource_request:
            if self.non_resource_urls and not self.resources:
                return False
            if self.namespaces and attributes.namespace not in self.namespaces:
                return False
            if self.resources and not any(_resource_matches(r, attributes) for r in self.resources):
                return False
            return True
        if self.resources or self.namespaces:
            return False
        if self.non_resource_urls:
            return any(u == attributes.path or (u.endswith("*") and attributes.path.startswith(u[:-1]))
                       for u in self.non_resource_urls)
        return True


def _resource_matches(spec: Obj, attributes: Attributes) -> bool:
    if spec.get("group", "") != attributes.api_group and spec.get("group") != "*":
        return False
    names = spec.get("resourceNames") or []
    if names and attributes.name not in names:
        return False
    resources = spec.get("resources") or []
    if not resources:
        return True
    combined = f"{attributes.resource}/{attributes.subresource}" if attributes.subresource else attributes.resource
    return any(r in ("*", combined) or (attributes.subresource and r in (f"*/{attributes.subresource}",
                                                                         f"{attributes.resource}/*"))
               or (not attributes.subresource and r == attributes.resource) for r in resources)


@dataclass
class Policy:
    rules: list[Rule] = field(default_factory=lambda: [Rule("Metadata")])
    omit_stages: tuple[str, ...] = ()

    def level(self, attributes: Attributes) -> tuple[str, tuple[str, ...]]:
        for rule in self.rules:
            if rule.matches(attributes):
                return rule.level, (*self.omit_stages, *rule.omit_stages)
        return "None", ()


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise AuditPolicyError(f"{where}: must be a list of strings")
    return tuple(value)


def parse_policy(text: str, *, source: str = "audit policy") -> Policy:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise AuditPolicyError(f"{source}: not YAML or JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("kind") != "Policy" or \
            doc.get("apiVersion") not in ("audit.k8s.io/v1", "audit.k8s.io/v1beta1"):
        raise AuditPolicyError(f"{source}: must be an audit.k8s.io/v1 Policy")
    rules: list[Rule] = []
    for index, raw in enumerate(doc.get("rules") or []):
        where = f"{source}: rules[{index}]"
        if not isinstance(raw, dict) or raw.get("level") not in LEVELS:
            raise AuditPolicyError(f"{where}.level: must be one of {', '.join(LEVELS)}")
        resources = raw.get("resources") or []
        if not isinstance(resources, list) or not all(isinstance(r, dict) for r in resources):
            raise AuditPolicyError(f"{where}.resources: must be a list of {{group, resources, resourceNames}}")
        rules.append(Rule(raw["level"], _strings(raw.get("users"), f"{where}.users"),
                          _strings(raw.get("userGroups"), f"{where}.userGroups"),
                          _strings(raw.get("verbs"), f"{where}.verbs"), tuple(resources),
                          _strings(raw.get("namespaces"), f"{where}.namespaces"),
                          _strings(raw.get("nonResourceURLs"), f"{where}.nonResourceURLs"),
                          _strings(raw.get("omitStages"), f"{where}.omitStages")))
    if not rules:
        raise AuditPolicyError(f"{source}: rules: at least one rule is required")
    return Policy(rules, _strings(doc.get("omitStages"), f"{source}: omitStages"))


def _micro(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


DEFAULT_MAX_MEGABYTES: Final = 100  # lumberjack's default when --audit-log-maxsize is 0


class AuditLog:
    def __init__(self, *, path: Path, policy: Policy, max_megabytes: int = 0, max_backups: int = 0,
                 max_age_days: int = 0) -> None:
        self.path = path
        self.policy = policy
        self.max_bytes = (max_megabytes or DEFAULT_MAX_MEGABYTES) * 1024 * 1024
        self.max_backups = max_backups
        self.max_age_days = max_age_days
        self._stdout = str(path) == "-"
        self._size = 0
        self._file: IO[bytes] = sys.stdout.buffer if self._stdout else self._open()

    def _open(self) -> IO[bytes]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._size = os.fstat(fd).st_size
        return os.fdopen(fd, "ab", buffering=0)

    def close(self) -> None:
        if not self._stdout:
            self._file.close()

    def _write(self, line: bytes) -> None:
        if not self._stdout and self._size and self._size + len(line) > self.max_bytes:
            self._rotate()
        self._file.write(line)
        if not self._stdout:
            self._size += len(line)

    def _rotate(self) -> None:
        self._file.close()
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H-%M-%S.%f")[:-3]
        backup = self.path.with_name(f"{self.path.stem}-{stamp}{self.path.suffix}")
        while backup.exists():  # two rotations in one millisecond: never overwrite a backup
            backup = backup.with_name(f"{backup.stem}0{self.path.suffix}")
        os.replace(self.path, backup)
        self._file = self._open()
        self.prune()

    def backups(self) -> list[Path]:
        """Rotated files of this log, oldest first (their names sort by time)."""
        prefix, suffix = f"{self.path.stem}-", self.path.suffix
        return sorted(p for p in self.path.parent.iterdir()
                      if p.name.startswith(prefix) and p.name.endswith(suffix) and p != self.path)

    def prune(self) -> None:
        backups = self.backups()
        doomed = set(backups[:-self.max_backups]) if self.max_backups else set()
        if self.max_age_days:
            cutoff = dt.datetime.now(dt.UTC).timestamp() - self.max_age_days * 86400
            doomed |= {p for p in backups if p.stat().st_mtime < cutoff}
        for path in doomed:
            path.unlink(missing_ok=True)

    def record(self, *, attributes: Attributes | None, uri: str, source_ip: str, user_agent: str, code: int,
               received: dt.datetime, request_body: bytes | None = None, response_body: bytes | None = None,
               decision: str = "", reason: str = "", annotations: dict[str, str] | None = None) -> Obj | None:
        """Write one event if the policy wants it; returns the event (for tests)."""
        if attributes is None:
            return None
        level, omitted = self.policy.level(attributes)
        if level == "None" or "ResponseComplete" in omitted:
            return None
        event: Obj = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": level,
                      "auditID": str(uuid.uuid4()), "stage": "ResponseComplete", "requestURI": uri,
                      "verb": attributes.verb, "user": attributes.user.to_api(), "sourceIPs": [source_ip],
                      "userAgent": user_agent, "responseStatus": {"metadata": {}, "code": code},
                      "requestReceivedTimestamp": _micro(received),
                      "stageTimestamp": _micro(dt.datetime.now(dt.UTC))}
        if attributes.resource_request:
            ref: Obj = {"resource": attributes.resource, "apiVersion": attributes.api_version}
            for key, value in (("namespace", attributes.namespace), ("name", attributes.name),
                               ("apiGroup", attributes.api_group), ("subresource", attributes.subresource)):
                if value:
                    ref[key] = value
            event["objectRef"] = ref
        if decision or annotations:
            event["annotations"] = {**(annotations or {})}
            if decision:
                event["annotations"].update({"authorization.k8s.io/decision": decision,
                                             "authorization.k8s.io/reason": reason})
        if level in ("Request", "RequestResponse") and request_body:
            event["requestObject"] = _json_or_none(request_body)
        if level == "RequestResponse" and response_body:
            event["responseObject"] = _json_or_none(response_body)
        self._write((json.dumps(event, separators=(",", ":")) + "\n").encode())
        return event


def _json_or_none(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None


def open_audit_log(*, path: Path | None, policy_file: Path | None, max_megabytes: int = 0, max_backups: int = 0,
                   max_age_days: int = 0) -> AuditLog | None:
    if path is None:
        return None
    policy = Policy()
    if policy_file is not None:
        try:
            policy = parse_policy(policy_file.read_text(), source=str(policy_file))
        except OSError as exc:
            raise AuditPolicyError(f"{policy_file}: {exc.strerror or exc}") from None
    return AuditLog(path=path, policy=policy, max_megabytes=max_megabytes, max_backups=max_backups,
                    max_age_days=max_age_days)
