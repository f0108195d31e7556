"""Pod volumes on this node: emptyDir, hostPath, configMap, secret, downwardAPI, projected.

Design (upstream pkg/volume/{emptydir,hostpath,configmap,secret,downwardapi,projected} and
pkg/volume/util/atomic_writer.go)
-------------------------------------------------------------------------------------------
Each pod's volumes live under ``<agent_dir>/pods/<uid>/volumes/<plugin>/<volume>``, the layout of
upstream's ``/var/lib/kubelet/pods``. `VolumeManager.setup` is idempotent and runs on every sync of
a pod: ConfigMap, Secret, downward API and projected volumes are rewritten with the atomic writer
(files in a fresh ``..<timestamp>`` directory, a ``..data`` symlink swapped by rename, a symlink per
top-level name), so a change to the ConfigMap reaches running containers without a torn read, as
upstream. Content that cannot be produced (a missing ConfigMap that is not optional, a hostPath of
the wrong type) raises `VolumeError`; the pod stays in ContainerCreating with a FailedMount Event.
``emptyDir`` with ``medium: Memory`` is a tmpfs, unmounted in `teardown`. ServiceAccount token
sources of projected volumes use TokenRequest when the API server offers it (``token_source``);
without one the source is skipped and the rest of the volume is still written.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import shutil
import stat
import subprocess
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Final

from kubelite.agent.config import AgentConfig
from kubelite.agent.kubelet.container_config import (
    ContainerConfigError,
    ObjectLookup,
    _field_path,
    resource_field,
)
from kubelite.cri import api_pb2

log = logging.getLogger(__name__)

Obj = dict[str, Any]
TokenSource = Callable[[Mapping[str, Any], Mapping[str, Any]], Awaitable[str | None]]
"""(pod, serviceAccountToken projection) -> token, or None when the API server has no TokenRequest."""

DEFAULT_MODE: Final = 0o644
DATA_DIR: Final = "..data"
_PLUGIN_DIRS: Final = {"emptyDir": "kubernetes.io~empty-dir", "configMap": "kubernetes.io~configmap",
                       "secret": "kubernetes.io~secret", "downwardAPI": "kubernetes.io~downward-api",
                       "projected": "kubernetes.io~projected"}


class VolumeError(Exception):
    """A volume could not be set up; the message names the volume and the reason."""


def _check_relative(path: str, volume: str) -> None:
    parts = Path(path).parts
    if not path or path.startswith("/") or ".." in parts:
        raise VolumeError(f'volume "{volume}": item path "{path}" must be relative and must not contain ".."')


def write_atomic(target: Path, files: Mapping[str, tuple[bytes, int]]) -> bool:
    """Make ``target`` hold exactly ``files`` (relative path -> (content, mode)); False when unchanged."""
    target.mkdir(parents=True, exist_ok=True)
    current = target / DATA_DIR
    if current.is_symlink():
        old_dir = target / os.readlink(current)
        existing = {str(p.relative_to(old_dir)): p for p in old_dir.rglob("*") if p.is_file()}
        if set(existing) == set(files) and all(
                existing[k].read_bytes() == v[0] and stat.S_IMODE(existing[k].stat().st_mode) == v[1]
                for k, v in files.items()):
            return False
    else:
        old_dir = None
    stamp = f"..{time.strftime('%Y_%m_%d_%H_%M_%S')}.{time.monotonic_ns()}"
    new_dir = target / stamp
    new_dir.mkdir()
    for rel, (content, mode) in files.items():
        path = new_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        path.chmod(mode)
    tmp_link = target / "..data_tmp"
    with contextlib.suppress(FileNotFoundError):
        tmp_link.unlink()
    tmp_link.symlink_to(stamp)
    tmp_link.rename(current)  # the swap readers see atomically
    tops = {Path(rel).parts[0] for rel in files}
    for top in tops:
        link = target / top
        if not link.is_symlink():
            link.symlink_to(f"{DATA_DIR}/{top}")
    for entry in target.iterdir():
        if entry.name.startswith(".."):
            continue
        if entry.name not in tops:
            entry.unlink()
    if old_dir is not None and old_dir != new_dir:
        shutil.rmtree(old_dir, ignore_errors=True)
    return True


def _items(data: Mapping[str, bytes], items: list[Obj] | None, default_mode: int, *, volume: str,
           optional: bool, what: str) -> dict[str, tuple[bytes, int]]:
    if not items:
        return {key: (value, default_mode) for key, value in data.items()}
    out = {}
    for item in items:
        key = item["key"]
        _check_relative(item["path"], volume)
        if key not in data:
            if optional:
                continue
            raise VolumeError(f'volume "{volume}": {what} has no key "{key}"')
        out[item["path"]] = (data[key], int(item.get("mode", default_mode)))
    return out


class VolumeManager:
    def __init__(self, *, config: AgentConfig, lookup: ObjectLookup, allocatable: Mapping[str, str],
                 token_source: TokenSource | None = None) -> None:
        self.config = config
        self.lookup = lookup
        self.allocatable = allocatable
        self.token_source = token_source

    def pod_dir(self, uid: str) -> Path:
        return self.config.agent_dir / "pods" / uid

    def volume_dir(self, uid: str, kind: str, name: str) -> Path:
        return self.pod_dir(uid) / "volumes" / _PLUGIN_DIRS.get(kind, kind) / name

    async def setup(self, pod: Mapping[str, Any], *, host_ip: str) -> dict[str, Path]:
        """Create or refresh every volume of ``pod``; returns volume name -> host path."""
        paths: dict[str, Path] = {}
        for volume in (pod.get("spec") or {}).get("volumes") or []:
            name = volume["name"]
            try:
                paths[name] = await self._setup_one(pod, volume, host_ip=host_ip)
            except ContainerConfigError as err:
                raise VolumeError(f'volume "{name}": {err}') from None
            except OSError as err:
                raise VolumeError(f'volume "{name}": {err.strerror or err}') from None
        self._etc_hosts(pod, host_ip=host_ip)
        return paths

    async def _setup_one(self, pod: Mapping[str, Any], volume: Mapping[str, Any], *, host_ip: str) -> Path:
        uid = pod["metadata"]["uid"]
        ns = pod["metadata"].get("namespace", "default")
        name = volume["name"]
        if "hostPath" in volume:
            return self._host_path(volume["hostPath"], name)
        if "emptyDir" in volume:
            target = self.volume_dir(uid, "emptyDir", name)
            target.mkdir(parents=True, exist_ok=True)
            target.chmod(0o777)  # upstream's emptyDir is world-writable
            spec = volume["emptyDir"] or {}
            if spec.get("medium") == "Memory" and not os.path.ismount(target):
                options = "mode=0777"
                if spec.get("sizeLimit"):
                    from kubelite.api.quantity import Quantity
                    options += f",size={Quantity.parse(spec['sizeLimit']).value()}"
                done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)],
                                      capture_output=True, text=True, check=False)
                if done.returncode != 0:
                    raise VolumeError(f'volume "{name}": mounting a tmpfs failed: {done.stderr.strip()}')
            return target
        for kind in ("configMap", "secret", "downwardAPI", "projected"):
            if kind in volume:
                target = self.volume_dir(uid, kind, name)
                files = await self._files(pod, kind, volume[kind] or {}, name=name, ns=ns, host_ip=host_ip)
                write_atomic(target, files)
                return target
        kinds = sorted(k for k in volume if k != "name")
        raise VolumeError(f'volume "{name}": unsupported volume type {kinds}; this node mounts emptyDir, '
                          "hostPath, configMap, secret, downwardAPI and projected volumes")

    def _host_path(self, spec: Mapping[str, Any], name: str) -> Path:
        path = Path(spec["path"])
        kind = spec.get("type") or ""
        if kind == "DirectoryOrCreate":
            path.mkdir(parents=True, exist_ok=True, mode=0o755)
        elif kind == "FileOrCreate":
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                path.touch(mode=0o644)
        checks = {"Directory": path.is_dir, "DirectoryOrCreate": path.is_dir, "File": path.is_file,
                  "FileOrCreate": path.is_file, "Socket": path.is_socket, "CharDevice": path.is_char_device,
                  "BlockDevice": path.is_block_device}
        if kind and kind in checks and not checks[kind]():
            raise VolumeError(f'volume "{name}": hostPath type check failed: {path} is not a {kind}')
        return path

    async def _files(self, pod: Mapping[str, Any], kind: str, spec: Mapping[str, Any], *, name: str, ns: str,
                     host_ip: str) -> dict[str, tuple[bytes, int]]:
        mode = int(spec.get("defaultMode", DEFAULT_MODE))
        if kind == "configMap":
            return await self._configmap(spec, mode, name=name, ns=ns)
        if kind == "secret":
            return await self._secret(spec, mode, name=name, ns=ns)
        if kind == "downwardAPI":
            return self._downward(pod, spec.get("items") or [], mode, name=name, host_ip=host_ip)
        files: dict[str, tuple[bytes, int]] = {}
        for source in spec.get("sources") or []:
            if "configMap" in source:
                files.update(await self._configmap(source["configMap"], mode, name=name, ns=ns))
            elif "secret" in source:
                files.update(await self._secret(source["secret"], mode, name=name, ns=ns))
            elif "downwardAPI" in source:
                files.update(self._downward(pod, source["downwardAPI"].get("items") or [], mode, name=name,
                                            host_ip=host_ip))
            elif "serviceAccountToken" in source:
                projection = source["serviceAccountToken"]
                token = await self.token_source(pod, projection) if self.token_source else None
                if token is not None:
                    _check_relative(projection["path"], name)
                    files[projection["path"]] = (token.encode(), mode)
                else:
                    log.info('volume "%s": no TokenRequest on this API server; token source skipped', name)
            elif "clusterTrustBundle" in source:
                raise VolumeError(f'volume "{name}": clusterTrustBundle sources are not supported')
        return files

    async def _configmap(self, spec: Mapping[str, Any], mode: int, *, name: str,
                         ns: str) -> dict[str, tuple[bytes, int]]:
        cm = await self.lookup.get_configmap(ns, spec["name"])
        optional = bool(spec.get("optional"))
        if cm is None:
            if optional:
                return {}
            raise VolumeError(f'configmap "{spec["name"]}" not found')
        data = {k: str(v).encode() for k, v in (cm.get("data") or {}).items()}
        data.update({k: base64.b64decode(v) for k, v in (cm.get("binaryData") or {}).items()})
        return _items(data, spec.get("items"), mode, volume=name, optional=optional,
                      what=f'configmap "{spec["name"]}"')

    async def _secret(self, spec: Mapping[str, Any], mode: int, *, name: str,
                      ns: str) -> dict[str, tuple[bytes, int]]:
        secret_name = spec.get("secretName") or spec.get("name") or ""
        secret = await self.lookup.get_secret(ns, secret_name)
        optional = bool(spec.get("optional"))
        if secret is None:
            if optional:
                return {}
            raise VolumeError(f'secret "{secret_name}" not found')
        data = {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}
        return _items(data, spec.get("items"), mode, volume=name, optional=optional,
                      what=f'secret "{secret_name}"')

    def _downward(self, pod: Mapping[str, Any], items: list[Obj], mode: int, *, name: str,
                  host_ip: str) -> dict[str, tuple[bytes, int]]:
        files = {}
        pod_ip = ((pod.get("status") or {}).get("podIP")) or ""
        for item in items:
            _check_relative(item["path"], name)
            if "fieldRef" in item:
                value = _field_path(pod, item["fieldRef"]["fieldPath"], pod_ip=pod_ip, pod_ips=[pod_ip] if pod_ip
                                    else [], host_ip=host_ip)
            elif "resourceFieldRef" in item:
                ref = item["resourceFieldRef"]
                containers = (pod.get("spec") or {}).get("containers") or []
                target = next((c for c in containers if c["name"] == ref.get("containerName")), None)
                if target is None:
                    raise VolumeError(f'volume "{name}": resourceFieldRef names no container of the pod '
                                      f'("{ref.get("containerName", "")}")')
                value = resource_field(target, ref, allocatable=self.allocatable)
            else:
                continue
            files[item["path"]] = (value.encode(), int(item.get("mode", mode)))
        return files

    def _etc_hosts(self, pod: Mapping[str, Any], *, host_ip: str) -> None:
        """The pod's /etc/hosts (non-hostNetwork pods), as upstream's managed hosts file."""
        spec = pod.get("spec") or {}
        if spec.get("hostNetwork"):
            return
        pod_ip = (pod.get("status") or {}).get("podIP") or ""
        hostname = str(spec.get("hostname") or pod["metadata"]["name"])
        lines = ["# Kubernetes-managed hosts file.", "127.0.0.1\tlocalhost",
                 "::1\tlocalhost ip6-localhost ip6-loopback", "fe00::0\tip6-localnet", "fe00::0\tip6-mcastprefix",
                 "fe00::1\tip6-allnodes", "fe00::2\tip6-allrouters"]
        if pod_ip:
            subdomain = spec.get("subdomain")
            if subdomain:
                # upstream: the FQDN of a pod in a headless Service's subdomain comes first
                ns = pod["metadata"].get("namespace", "default")
                fqdn = f"{hostname}.{subdomain}.{ns}.svc.{self.config.cluster_domain}"
                lines.append(f"{pod_ip}\t{fqdn}\t{hostname}")
            else:
                lines.append(f"{pod_ip}\t{hostname}")
        for alias in spec.get("hostAliases") or []:
            lines.append(f"{alias['ip']}\t" + "\t".join(alias.get("hostnames") or []))
        path = self.pod_dir(pod["metadata"]["uid"]) / "etc-hosts"
        path.parent.mkdir(parents=True, exist_ok=True)
        text = "\n".join(lines) + "\n"
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            path.chmod(0o644)

    def mounts_for(self, pod: Mapping[str, Any], container: Mapping[str, Any],
                   paths: Mapping[str, Path]) -> list[api_pb2.Mount]:
        """CRI mounts for ``container``'s volumeMounts (subPath, readOnly) plus the pod's /etc/hosts."""
        mounts = []
        for vm in container.get("volumeMounts") or []:
            host = paths.get(vm["name"])
            if host is None:
                raise VolumeError(f'container "{container["name"]}": volumeMount "{vm["name"]}" names no volume '
                                  "of the pod")
            if vm.get("subPath"):
                _check_relative(vm["subPath"], vm["name"])
                host = host / vm["subPath"]
                if not host.exists():
                    host.mkdir(parents=True, exist_ok=True)
            propagation = {"HostToContainer": api_pb2.PROPAGATION_HOST_TO_CONTAINER,
                           "Bidirectional": api_pb2.PROPAGATION_BIDIRECTIONAL}.get(
                vm.get("mountPropagation") or "", api_pb2.PROPAGATION_PRIVATE)
            mounts.append(api_pb2.Mount(container_path=vm["mountPath"], host_path=str(host),
                                        readonly=bool(vm.get("readOnly")), propagation=propagation))
        hosts = self.pod_dir(pod["metadata"]["uid"]) / "etc-hosts"
        if not (pod.get("spec") or {}).get("hostNetwork") and hosts.exists() and \
                not any(m.container_path == "/etc/hosts" for m in mounts):
            mounts.append(api_pb2.Mount(container_path="/etc/hosts", host_path=str(hosts)))
        return mounts

    def termination_log_mount(self, pod: Mapping[str, Any], container: Mapping[str, Any]) -> list[api_pb2.Mount]:
        """A fresh file per container instance, mounted at terminationMessagePath (upstream's
        ``pods/<uid>/containers/<name>/<id>``); the kubelet reads it when the container exits."""
        path = container.get("terminationMessagePath") or "/dev/termination-log"
        directory = self.pod_dir(pod["metadata"]["uid"]) / "containers" / container["name"]
        directory.mkdir(parents=True, exist_ok=True)
        host = directory / os.urandom(4).hex()
        host.touch(mode=0o666)
        host.chmod(0o666)  # whatever user the container runs as may write its message
        return [api_pb2.Mount(container_path=path, host_path=str(host))]

    def teardown(self, uid: str) -> None:
        """Unmount the pod's tmpfs volumes and remove its directory (after its containers are gone)."""
        pod_dir = self.pod_dir(uid)
        if not pod_dir.exists():
            return
        empty_dirs = pod_dir / "volumes" / _PLUGIN_DIRS["emptyDir"]
        if empty_dirs.is_dir():
            for entry in empty_dirs.iterdir():
                if os.path.ismount(entry):
                    subprocess.run(["umount", str(entry)], capture_output=True, check=False)
        shutil.rmtree(pod_dir, ignore_errors=True)
