"""CronJobs: create Jobs on a schedule (upstream ``pkg/controller/cronjob``, its v2 controller).

**Schedules** (``CronSchedule``): the five standard fields (minute, hour, day of month, month, day of week
with names, ranges, steps, lists, ``*``/``?``), the descriptors ``@yearly``/``@annually``, ``@monthly``,
``@weekly``, ``@daily``/``@midnight``, ``@hourly`` and ``@every <duration>``, evaluated in
``spec.timeZone`` (or a ``TZ=``/``CRON_TZ=`` prefix; UTC otherwise). When both day fields are
restricted a day matches either, as in cron (robfig's rule).

**Reconcile** per CronJob, as upstream's ``syncCronJob``:

* owned Jobs are found by controller reference; finished ones leave ``status.active`` (and set
  ``lastSuccessfulTime``), and the oldest finished beyond ``successfulJobsHistoryLimit`` (3) and
  ``failedJobsHistoryLimit`` (1) are deleted (background propagation);
* unless suspended, the most recent schedule time missed since ``lastScheduleTime`` (or creation) is
  run, if within ``startingDeadlineSeconds``; ``concurrencyPolicy`` Forbid skips it while a Job is
  active, Replace deletes the active Jobs first, Allow just runs it;
* the Job is named ``<cronjob>-<scheduled minutes since the epoch>`` (so a retry never runs a
  schedule twice), carries the ``batch.kubernetes.io/cronjob-scheduled-timestamp`` annotation, the
  job template's labels and annotations, and a controller reference;
* it is looked at again at the next schedule time. Events: SuccessfulCreate, SawCompletedJob,
  SuccessfulDelete, MissSchedule, JobAlreadyActive.
"""

from __future__ import annotations

import copy
import logging
import re
import socket
import zoneinfo
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from kubelite.client import (
    APIClient,
    APIStatusError,
    EventRecorder,
    SharedInformerFactory,
    is_already_exists,
    is_not_found,
)
from kubelite.controlplane.controllers.base import Controller
from kubelite.controlplane.controllers.job import finished_condition
from kubelite.controlplane.controllers.pod_control import controller_ref, owner_reference, parse_time, typed
from kubelite.controlplane.controllers.write_tracker import WriteTracker

log = logging.getLogger(__name__)

Obj = dict[str, Any]

API_VERSION: Final = "batch/v1"
KIND: Final = "CronJob"
SCHEDULED_ANNOTATION: Final = "batch.kubernetes.io/cronjob-scheduled-timestamp"
MAX_MISSED: Final = 100
_MONTHS: Final = {n: i + 1 for i, n in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep",
                                                   "oct", "nov", "dec"))}
_DAYS: Final = {n: i for i, n in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
_DESCRIPTORS: Final = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
                       "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
                       "@hourly": "0 * * * *"}
_DURATION: Final = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS: Final = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


class CronScheduleError(ValueError):
    pass


def _field(text: str, low: int, high: int, names: dict[str, int] | None) -> tuple[set[int], bool]:
    """The values a field allows, and whether it was a bare star (for the day-of-month/week rule)."""
    values: set[int] = set()
    star = False
    for item in text.split(","):
        step = 1
        part = item
        if "/" in item:
            part, step_text = item.split("/", 1)
            step = int(step_text)
            if step <= 0:
                raise CronScheduleError(f"step must be positive: {text!r}")
        if part in ("*", "?"):
            start, end = low, high
            star = step == 1
        else:
            def value(token: str) -> int:
                token_l = token.lower()
                if names and token_l in names:
                    return names[token_l]
                return int(token)
            if "-" in part:
                a, b = part.split("-", 1)
                start, end = value(a), value(b)
            else:
                start = value(part)
                end = high if step > 1 else start
        if start < low or end > high or start > end:
            raise CronScheduleError(f"value out of range [{low}, {high}]: {text!r}")
        values.update(range(start, end + 1, step))
    return values, star


class CronSchedule:
    """A parsed schedule; ``next_after(t)`` is the first activation strictly after ``t`` (aware datetime)."""

    def __init__(self, spec: str, *, time_zone: str | None = None) -> None:
        text = spec.strip()
        for prefix in ("TZ=", "CRON_TZ="):
            if text.startswith(prefix):
                zone, _, text = text[len(prefix):].partition(" ")
                time_zone = zone
                text = text.strip()
        try:
            self.zone = zoneinfo.ZoneInfo(time_zone) if time_zone else UTC
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise CronScheduleError(f"unknown time zone {time_zone!r}") from None
        self.every: float | None = None
        if text.startswith("@every "):
            matches = _DURATION.findall(text[len("@every "):].strip())
            if not matches:
                raise CronScheduleError(f"bad duration in {spec!r}")
            self.every = max(int(sum(float(n) * _UNITS[u] for n, u in matches)), 1)
            return
        text = _DESCRIPTORS.get(text, text)
        fields = text.split()
        if len(fields) != 5:
            raise CronScheduleError(f"expected exactly 5 fields, found {len(fields)}: {spec!r}")
        try:
            self.minutes, _ = _field(fields[0], 0, 59, None)
            self.hours, _ = _field(fields[1], 0, 23, None)
            self.dom, self.dom_star = _field(fields[2], 1, 31, None)
            self.months, _ = _field(fields[3], 1, 12, _MONTHS)
            dow, self.dow_star = _field(fields[4], 0, 7, _DAYS)  # 7 is Sunday too
        except ValueError as exc:
            raise CronScheduleError(f"{spec!r}: {exc}") from None
        self.dow = {d % 7 for d in dow}

    def _day_matches(self, moment: datetime) -> bool:
        dom = moment.day in self.dom
        dow = (moment.isoweekday() % 7) in self.dow
        if self.dom_star or self.dow_star:
            return dom and dow
        return dom or dow

    def next_after(self, moment: datetime) -> datetime:
        if self.every is not None:
            base = moment.replace(microsecond=0)
            return base + timedelta(seconds=self.every)
        local = moment.astimezone(self.zone).replace(second=0, microsecond=0) + timedelta(minutes=1)
        for _ in range(366 * 24 * 60 * 5):  # at most five years of minutes, then give up as robfig does
            if local.month not in self.months:
                local = (local.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(day=1)
                continue
            if not self._day_matches(local):
                local = local.replace(hour=0, minute=0) + timedelta(days=1)
                continue
            if local.hour not in self.hours:
                local = local.replace(minute=0) + timedelta(hours=1)
                continue
            if local.minute not in self.minutes:
                local += timedelta(minutes=1)
                continue
            return local.astimezone(UTC)
        raise CronScheduleError("no activation within five years")


def most_recent(schedule: CronSchedule, earliest: datetime, now: datetime) -> tuple[datetime | None, int]:
    """The latest activation in (earliest, now] and how many there were (capped at MAX_MISSED + 1)."""
    latest, count, moment = None, 0, earliest
    while True:
        moment = schedule.next_after(moment)
        if moment > now:
            return latest, count
        latest, count = moment, count + 1
        if count > MAX_MISSED:
            # too many missed runs to walk one by one: jump to the last one before now (upstream warns too)
            probe = now - timedelta(seconds=schedule.every or 24 * 60 * 60)
            moment = max(moment, probe)


class CronJobController(Controller):
    name = "cronjob"

    def __init__(self, client: APIClient, *, factory: SharedInformerFactory | None = None,
                 recorder: EventRecorder | None = None) -> None:
        super().__init__()
        self.client = client
        self.cron_api = client.resource("batch", "v1", "cronjobs")
        self.jobs_api = client.resource("batch", "v1", "jobs")
        self.recorder: EventRecorder = recorder or EventRecorder(client, component="cronjob-controller",
                                                                 host=socket.gethostname())
        self.cronjobs = self.shared(factory, "batch", "v1", "cronjobs")
        self.jobs = self.shared(factory, "batch", "v1", "jobs")
        self.tracker = WriteTracker()
        self.cronjobs.add_handler(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n))
        self.jobs.add_handler(on_add=self._job_changed, on_update=lambda _o, n: self._job_changed(n),
                              on_delete=self._job_changed)

    def _job_changed(self, job: Obj) -> None:
        ref = controller_ref(job)
        if ref is not None and ref.get("kind") == KIND:
            self.queue.add(f"{job['metadata']['namespace']}/{ref['name']}")

    async def reconcile(self, key: str) -> float | None:
        if (wait := self.tracker.wait_for(key, self.cronjobs.store)) is not None:
            return wait
        cached = self.cronjobs.store.get(key)
        if cached is None or cached["metadata"].get("deletionTimestamp"):
            return None
        cj = typed(copy.deepcopy(cached), api_version=API_VERSION, kind=KIND)
        spec = cj.get("spec") or {}
        status: Obj = copy.deepcopy(cj.get("status") or {})
        namespace = cj["metadata"]["namespace"]
        owned = [j for j in self.jobs.store.by_index("namespace", namespace)
                 if (ref := controller_ref(j)) is not None and ref.get("uid") == cj["metadata"]["uid"]]
        active = [j for j in owned if finished_condition(j) is None and not j["metadata"].get("deletionTimestamp")]
        for job in owned:
            condition = finished_condition(job)
            if condition is not None and condition.get("type") == "Complete":
                done = (job.get("status") or {}).get("completionTime")
                if done and (not status.get("lastSuccessfulTime") or
                             (parse_time(done) or 0) > (parse_time(status["lastSuccessfulTime"]) or 0)):
                    status["lastSuccessfulTime"] = done
        was_active = {r.get("uid") for r in status.get("active") or []}
        for job in owned:
            if job["metadata"]["uid"] in was_active and finished_condition(job) is not None:
                self.recorder.event(cj, event_type="Normal", reason="SawCompletedJob",
                                    message=f"Saw completed job: {job['metadata']['name']}, status: "
                                            f"{finished_condition(job)['type']}")  # type: ignore[index]
        await self._clean_history(cj, owned)
        try:
            schedule = CronSchedule(str(spec.get("schedule") or ""), time_zone=spec.get("timeZone"))
        except CronScheduleError as exc:
            self.recorder.event(cj, event_type="Warning", reason="UnparseableSchedule",
                                message=f"unparseable schedule: {spec.get('schedule')!r}: {exc}")
            status["active"] = [self._ref(j) for j in active] or None
            await self._write_status(key, cj, status)
            return None
        now = datetime.now(UTC)
        earliest = datetime.fromtimestamp(parse_time(status.get("lastScheduleTime"))
                                          or parse_time(cj["metadata"].get("creationTimestamp")) or now.timestamp(),
                                          UTC)
        requeue = (schedule.next_after(now) - now).total_seconds() + 0.05
        if spec.get("suspend"):
            status["active"] = [self._ref(j) for j in active] or None
            await self._write_status(key, cj, status)
            return None
        scheduled, missed = most_recent(schedule, earliest, now)
        if missed > MAX_MISSED:
            self.recorder.event(cj, event_type="Warning", reason="TooManyMissedTimes",
                                message="too many missed start times. Set or decrease .spec.startingDeadlineSeconds "
                                        "or check clock skew")
        if scheduled is not None:
            deadline = spec.get("startingDeadlineSeconds")
            if deadline is not None and scheduled < now - timedelta(seconds=int(deadline)):
                self.recorder.event(cj, event_type="Warning", reason="MissSchedule",
                                    message=f"Missed scheduled time to start a job: {scheduled.isoformat()}")
            else:
                policy = spec.get("concurrencyPolicy") or "Allow"
                if policy == "Forbid" and active:
                    self.recorder.event(cj, event_type="Normal", reason="JobAlreadyActive",
                                        message="Not starting job because prior execution is running and "
                                                "concurrency policy is Forbid")
                    status["active"] = [self._ref(j) for j in active] or None
                    await self._write_status(key, cj, status)
                    return requeue
                if policy == "Replace":
                    for job in active:
                        await self._delete_job(cj, job)
                    active = []
                created = await self._create_job(cj, scheduled)
                if created is not None:
                    active.append(created)
                status["lastScheduleTime"] = scheduled.strftime("%Y-%m-%dT%H:%M:%SZ")
        status["active"] = [self._ref(j) for j in active] or None
        await self._write_status(key, cj, status)
        return max(requeue, 0.05)

    @staticmethod
    def _ref(job: Obj) -> Obj:
        md = job["metadata"]
        return {"kind": "Job", "namespace": md["namespace"], "name": md["name"], "uid": md["uid"],
                "apiVersion": "batch/v1", "resourceVersion": md.get("resourceVersion")}

    async def _create_job(self, cj: Obj, scheduled: datetime) -> Obj | None:
        spec = cj.get("spec") or {}
        template = copy.deepcopy(spec.get("jobTemplate") or {})
        tmd = template.get("metadata") or {}
        name = f"{cj['metadata']['name']}-{int(scheduled.timestamp() // 60)}"
        if spec.get("schedule", "").strip().startswith("@every"):
            name = f"{cj['metadata']['name']}-{int(scheduled.timestamp())}"
        body = {"apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": name, "namespace": cj["metadata"]["namespace"],
                             "labels": dict(tmd.get("labels") or {}),
                             "annotations": {**(tmd.get("annotations") or {}),
                                             SCHEDULED_ANNOTATION: scheduled.strftime("%Y-%m-%dT%H:%M:%SZ")},
                             "ownerReferences": [owner_reference(cj, api_version=API_VERSION, kind=KIND)]},
                "spec": template.get("spec") or {}}
        try:
            created: Obj = await self.jobs_api.create(body)
        except APIStatusError as exc:
            if is_already_exists(exc):
                return None  # this schedule already ran (a retry after a lost status write)
            self.recorder.event(cj, event_type="Warning", reason="FailedCreate",
                                message=f"Error creating job: {exc.message}")
            raise
        self.recorder.event(cj, event_type="Normal", reason="SuccessfulCreate", message=f"Created job {name}")
        return created

    async def _delete_job(self, cj: Obj, job: Obj) -> None:
        md = job["metadata"]
        try:
            await self.jobs_api.delete(md["name"], namespace=md["namespace"], propagation_policy="Background",
                                       preconditions={"uid": md["uid"]})
        except APIStatusError as exc:
            if not (is_not_found(exc) or exc.code == 409):
                raise
            return
        self.recorder.event(cj, event_type="Normal", reason="SuccessfulDelete", message=f"Deleted job {md['name']}")

    async def _clean_history(self, cj: Obj, owned: list[Obj]) -> None:
        spec = cj.get("spec") or {}
        for kind, limit in (("Complete", spec.get("successfulJobsHistoryLimit", 3)),
                            ("Failed", spec.get("failedJobsHistoryLimit", 1))):
            if limit is None:
                continue
            finished = [j for j in owned if (c := finished_condition(j)) is not None and c.get("type") == kind
                        and not j["metadata"].get("deletionTimestamp")]
            finished.sort(key=lambda j: parse_time((j.get("status") or {}).get("startTime"))
                          or parse_time(j["metadata"].get("creationTimestamp")) or 0.0)
            for job in finished[:max(len(finished) - int(limit), 0)]:
                await self._delete_job(cj, job)

    async def _write_status(self, key: str, cj: Obj, status: Obj) -> None:
        status = {k: v for k, v in status.items() if v is not None}
        if status == (cj.get("status") or {}):
            return
        try:
            written = await self.cron_api.update_status({**cj, "status": status})
        except APIStatusError as exc:
            if is_not_found(exc):
                return
            raise
        self.tracker.wrote(key, written)
