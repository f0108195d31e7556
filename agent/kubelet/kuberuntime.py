"""What a pod's sync must do to the runtime, decided from spec and runtime state (pure), and images.

Design (upstream pkg/kubelet/kuberuntime/kuberuntime_manager.go computePodActions,
kuberuntime_image.go, pkg/kubelet/images)
--------------------------------------------------------------------------------
:func:`compute_pod_actions` compares the pod's spec with its `PodRuntime`: whether a (new) sandbox
is needed, which containers to kill (a liveness failure, a changed spec hash, containers the spec no
longer names) and which to start: the next init container in order, or every regular container
that never ran or may restart under the pod's restartPolicy. Back-off is not decided here: the
kubelet checks it when it acts, since it depends on the clock.

`ImagePuller` implements imagePullPolicy (Always / IfNotPresent / Never, defaulting as the API
does) through CRI ImageStatus and PullImage, with credentials from the pod's imagePullSecrets
(``kubernetes.io/dockerconfigjson`` and ``dockercfg``).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from kubelite.agent.kubelet.container_config import ObjectLookup
from kubelite.agent.kubelet.runtime_state import CREATED, EXITED, RUNNING, UNKNOWN, PodRuntime, container_hash
from kubelite.cri import CriError, RuntimeClient, api_pb2

Obj = dict[str, Any]

ALWAYS: Final = "Always"
ON_FAILURE: Final = "OnFailure"
NEVER: Final = "Never"


@dataclass
class PodActions:
    create_sandbox: bool = False
    sandbox_attempt: int = 0
    kill: dict[str, str] = field(default_factory=dict)
    """container ID -> why it is killed (the Killing Event's message)."""
    start: list[Obj] = field(default_factory=list)
    """container specs to start, in order (at most one init container)."""
    start_init: bool = False
    done: bool = False
    """restartPolicy says nothing more will run (the pod reached its end)."""


def _restartable(restart: str, exit_code: int) -> bool:
    return restart == ALWAYS or (restart == ON_FAILURE and exit_code != 0)


def compute_pod_actions(pod: Mapping[str, Any], state: PodRuntime, *,
                        liveness_failed: Mapping[str, str]) -> PodActions:
    spec = pod.get("spec") or {}
    restart = spec.get("restartPolicy") or ALWAYS
    init_specs = spec.get("initContainers") or []
    specs = spec.get("containers") or []
    actions = PodActions()
    sandbox = state.sandbox
    if sandbox is None or not sandbox.ready:
        for record in state.running():
            actions.kill[record.id] = "the pod sandbox is gone; the pod is being recreated"
        if sandbox is not None and restart == NEVER and state.containers:
            actions.done = True  # upstream: a Never pod whose sandbox died is not recreated
            return actions
        actions.create_sandbox = True
        actions.sandbox_attempt = 0 if sandbox is None else sandbox.attempt + 1
        if init_specs:
            actions.start = [init_specs[0]]
            actions.start_init = True
        else:
            actions.start = list(specs)
        return actions
    current = [c for c in state.containers if c.sandbox_id == sandbox.id]

    def latest(name: str) -> Any:
        return next((c for c in current if c.name == name), None)

    known = {c["name"] for c in [*init_specs, *specs]}
    for record in current:
        if record.name not in known and record.state in (RUNNING, UNKNOWN):
            actions.kill[record.id] = f"Container {record.name} is no longer in the pod's spec"
    for init in init_specs:
        record = latest(init["name"])
        if record is None or record.state == CREATED:
            actions.start, actions.start_init = [init], True
            return actions
        if record.state in (RUNNING, UNKNOWN):
            return actions  # wait for it
        if record.exit_code == 0:
            continue
        if restart == NEVER:
            actions.done = True
            return actions
        actions.start, actions.start_init = [init], True
        return actions
    for container in specs:
        record = latest(container["name"])
        if record is None or record.state == CREATED:
            actions.start.append(container)
        elif record.state == RUNNING:
            if record.hash and record.hash != container_hash(container):
                actions.kill[record.id] = f"Container {container['name']} definition changed, will be restarted"
                actions.start.append(container)
            elif record.id in liveness_failed:
                actions.kill[record.id] = liveness_failed[record.id]
                if restart != NEVER:
                    actions.start.append(container)
        elif record.state == EXITED and _restartable(restart, record.exit_code):
            actions.start.append(container)
    if not actions.start and not any(c.state in (RUNNING, UNKNOWN) for c in current) and \
            not actions.kill and specs:
        actions.done = True
    return actions


def go_duration(seconds: float) -> str:
    """Go's time.Duration.String() for whole seconds: 10s, 1m20s, 5m0s."""
    total = int(seconds)
    minutes, secs = divmod(total, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def default_pull_policy(image: str) -> str:
    """The API's defaulting: Always for ``:latest`` or an untagged image, else IfNotPresent."""
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    if ":" not in last or last.endswith(":latest"):
        return ALWAYS
    return "IfNotPresent"


def registry_of(image: str) -> str:
    first = image.split("/", 1)[0]
    if "/" in image and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


class ImagePullError(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class ImagePuller:
    def __init__(self, *, runtime: RuntimeClient, lookup: ObjectLookup) -> None:
        self.runtime = runtime
        self.lookup = lookup

    async def present(self, image: str) -> bool:
        return bool((await self.runtime.image_status(image=image)).HasField("image"))

    async def auths(self, pod: Mapping[str, Any], image: str) -> list[api_pb2.AuthConfig]:
        """Credentials for ``image``'s registry from the pod's imagePullSecrets."""
        registry = registry_of(image)
        ns = pod["metadata"].get("namespace", "default")
        found = []
        for ref in (pod.get("spec") or {}).get("imagePullSecrets") or []:
            secret = await self.lookup.get_secret(ns, ref.get("name", ""))
            if secret is None:
                continue
            data = secret.get("data") or {}
            raw = data.get(".dockerconfigjson") or data.get(".dockercfg")
            if not raw:
                continue
            try:
                doc = json.loads(base64.b64decode(raw))
            except ValueError:
                continue
            entries = doc.get("auths", doc) if isinstance(doc, dict) else {}
            for server, entry in entries.items():
                host = server.split("://", 1)[-1].split("/", 1)[0]
                if host != registry and not (registry == "docker.io" and "docker.io" in host):
                    continue
                username, password = entry.get("username", ""), entry.get("password", "")
                if entry.get("auth") and not username:
                    username, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
                # no server_address: containerd url-parses it and drops the credentials when that fails
                # ("127.0.0.1:5000" has no scheme); they were matched to this image's registry above
                found.append(api_pb2.AuthConfig(username=username, password=password))
        return found

    async def ensure(self, pod: Mapping[str, Any], container: Mapping[str, Any],
                     sandbox: api_pb2.PodSandboxConfig | None, *, on_pull: Callable[[], None] | None = None) -> bool:
        """Make the image present as imagePullPolicy says; True when it was pulled now."""
        image = container.get("image") or ""
        if not image:
            raise ImagePullError("InvalidImageName", "Failed to apply default image tag \"\": couldn't parse image "
                                 "name \"\": invalid reference format")
        policy = container.get("imagePullPolicy") or default_pull_policy(image)
        if policy != ALWAYS and await self.present(image):
            return False
        if policy == NEVER:
            raise ImagePullError("ErrImageNeverPull", f'Container image "{image}" is not present with pull policy '
                                 "of Never")
        if on_pull is not None:
            on_pull()
        last = ""
        for auth in [*(await self.auths(pod, image)), None]:
            try:
                await self.runtime.pull_image(image=image, auth=auth, sandbox_config=sandbox)
                return True
            except CriError as err:
                last = err.details or str(err)
        raise ImagePullError("ErrImagePull", f'failed to pull and unpack image "{image}": {last}')
