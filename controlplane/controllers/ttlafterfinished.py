"""TTL after finished: delete a finished Job ``ttlSecondsAfterFinished`` seconds after it finished
(upstream ``pkg/controller/ttlafterfinished``).

A Job is finished when it has a ``Complete`` or ``Failed`` condition that is True; the clock starts at
that condition's ``lastTransitionTime``. When the time is up the Job is deleted with foreground
propagation (its pods go first, as upstream), with a UID precondition; until then it is looked at again
when the time will be up. A Job whose TTL was changed is re-read from the cache on every event.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from kubelite.client import APIClient, APIStatusError, SharedInformerFactory, is_not_found
from kubelite.controlplane.controllers.base import Controller
from kubelite.controlplane.controllers.job import finished_condition
from kubelite.controlplane.controllers.pod_control import parse_time

log = logging.getLogger(__name__)

Obj = dict[str, Any]


class TTLAfterFinishedController(Controller):
    name = "ttlafterfinished"

    def __init__(self, client: APIClient, *, factory: SharedInformerFactory | None = None) -> None:
        super().__init__()
        self.client = client
        self.jobs_api = client.resource("batch", "v1", "jobs")
        self.jobs = self.shared(factory, "batch", "v1", "jobs")
        self.jobs.add_handler(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n))

    async def reconcile(self, key: str) -> float | None:
        job = self.jobs.store.get(key)
        if job is None or job["metadata"].get("deletionTimestamp"):
            return None
        ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
        finished = finished_condition(job)
        if ttl is None or finished is None:
            return None
        since = parse_time(finished.get("lastTransitionTime")) or time.time()
        remaining = since + int(ttl) - time.time()
        if remaining > 0:
            return remaining
        md = job["metadata"]
        log.info("ttlafterfinished: deleting Job %s (finished %ds ago, ttl %ss)", key, int(time.time() - since), ttl)
        try:
            await self.jobs_api.delete(md["name"], namespace=md["namespace"], propagation_policy="Foreground",
                                       preconditions={"uid": md["uid"]})
        except APIStatusError as exc:
            if not (is_not_found(exc) or exc.code == 409):
                raise
        return None
