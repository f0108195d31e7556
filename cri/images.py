"""Local container images: pack a directory into an OCI image archive and import it into containerd.

Design
------
No image can be pulled from the internet here, so kubelite builds the images it needs itself:

* `pack_rootfs` turns a root filesystem directory into a one-layer OCI image archive (the
  image-layout spec as a tar: ``oci-layout``, ``index.json``, ``blobs/sha256/...``). The layer is a
  reproducible tar (sorted entries, mtime 0, owner names dropped), gzip-compressed by default, so
  packing the same tree twice gives the same digests. The index names the image both with
  ``io.containerd.image.name`` (the full reference, which ``ctr import`` uses as the image name) and
  ``org.opencontainers.image.ref.name`` (the tag, as containerd's own exporter writes it).
* References are normalised the way the CRI does (``busybox`` -> ``docker.io/library/busybox:latest``),
  because the CRI looks images up by their normalised name: an image imported under a short name
  would be invisible to CreateContainer.
* `pause_image_archive` wraps kubelite's static pause binary (kubelite.native.PAUSE_BINARY) as
  `PAUSE_IMAGE`, the sandbox image containerd is configured with.
* `busybox_rootfs` builds a small but real userland from Debian's busybox-static, for tests and for
  ``kubelite images pack``.
* `import_archive` runs ``ctr --address <sock> -n k8s.io images import`` (the ctr binary that ships
  with containerd) and returns the names it imported; the CRI plugin sees images of the ``k8s.io``
  namespace only.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
import json
import os
import platform
import re
import shutil
import stat
import struct
import subprocess
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from kubelite.native import PAUSE_BINARY

__all__ = [
    "BUSYBOX_REQUIRED_APPLETS",
    "PAUSE_IMAGE",
    "ImageError",
    "busybox_rootfs",
    "import_archive",
    "normalize_reference",
    "pack_rootfs",
    "pause_image_archive",
]

PAUSE_IMAGE: Final = "kubelite.local/pause:3.10"
# Applets kubelite's tests and examples rely on; busybox_rootfs refuses a busybox without them.
BUSYBOX_REQUIRED_APPLETS: Final = ("sh", "httpd", "nc", "wget", "sleep", "nslookup")
DEFAULT_PATH_ENV: Final = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

MEDIA_INDEX: Final = "application/vnd.oci.image.index.v1+json"
MEDIA_MANIFEST: Final = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG: Final = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER_GZIP: Final = "application/vnd.oci.image.layer.v1.tar+gzip"
MEDIA_LAYER_TAR: Final = "application/vnd.oci.image.layer.v1.tar"
ANNOTATION_CONTAINERD_NAME: Final = "io.containerd.image.name"
ANNOTATION_REF_NAME: Final = "org.opencontainers.image.ref.name"

# distribution/reference grammar (reference.go), which the CRI uses through ParseNormalizedNamed.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?"
_PATH_RE: Final = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_DOMAIN_RE: Final = re.compile(rf"^{_DOMAIN}$")
_TAG_RE: Final = re.compile(r"^[\w][\w.-]{0,127}$")
_MAX_NAME_LENGTH: Final = 255

# Python's machine names -> OCI platform (architecture, variant).
_ARCHITECTURES: Final = {
    "x86_64": ("amd64", ""), "amd64": ("amd64", ""), "aarch64": ("arm64", ""), "arm64": ("arm64", ""),
    "armv7l": ("arm", "v7"), "armv6l": ("arm", "v6"), "ppc64le": ("ppc64le", ""), "s390x": ("s390x", ""),
    "riscv64": ("riscv64", ""), "i686": ("386", ""), "i386": ("386", ""),
}


class ImageError(Exception):
    """Building, reading or importing an image failed; the message says what and where."""


def normalize_reference(ref: str) -> str:
    """The fully qualified form of an image reference, as the CRI looks images up.

    ``busybox`` -> ``docker.io/library/busybox:latest``, ``kubelite.local/pause:3.10`` unchanged.
    Digest references (``name@sha256:...``) are refused: a packed image gets its digest from its
    content, so only a name and tag can be chosen.
    """
    if not ref or ref != ref.strip():
        raise ImageError(f"image reference {ref!r} is empty or has surrounding spaces")
    if "@" in ref:
        raise ImageError(f"image reference {ref!r}: a digest cannot be chosen for a packed image; "
                         "give name[:tag], e.g. kubelite.local/busybox:1.35")
    name, tag = ref, "latest"
    last = ref.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = ref.rsplit(":", 1)
        if not _TAG_RE.match(tag):
            raise ImageError(f"image reference {ref!r}: tag {tag!r} is not valid (letters, digits, '_', '.', '-'; "
                             "at most 128 characters; not starting with '.' or '-')")
    first, sep, rest = name.partition("/")
    # As in distribution/reference: the first component is a registry only if it looks like a host.
    if sep and ("." in first or ":" in first or first == "localhost"):
        domain, path = first, rest
        if not _DOMAIN_RE.match(domain):
            raise ImageError(f"image reference {ref!r}: registry {domain!r} is not a valid host[:port]")
    else:
        domain, path = "docker.io", name
        if "/" not in path:
            path = f"library/{path}"
    if not _PATH_RE.match(path):
        raise ImageError(f"image reference {ref!r}: repository {path!r} is not valid (lowercase letters, digits "
                         "and separators '.', '_', '__', '-' between them; components joined by '/')")
    full = f"{domain}/{path}"
    if len(full) > _MAX_NAME_LENGTH:
        raise ImageError(f"image reference {ref!r}: the repository name is longer than {_MAX_NAME_LENGTH} characters")
    return f"{full}:{tag}"


def _platform() -> dict[str, str]:
    machine = platform.machine()
    if machine not in _ARCHITECTURES:
        raise ImageError(f"cannot name the OCI architecture of this machine ({machine!r}); "
                         f"known: {', '.join(sorted(_ARCHITECTURES))}")
    arch, variant = _ARCHITECTURES[machine]
    result = {"architecture": arch, "os": "linux"}
    if variant:
        result["variant"] = variant
    return result


def _normalized(info: tarfile.TarInfo) -> tarfile.TarInfo:
    # Reproducible layers: the same tree gives the same bytes wherever and whenever it is packed.
    info.mtime = 0
    info.uname = ""
    info.gname = ""
    info.pax_headers = {}
    return info


def _write_layer(rootfs: Path, layer_tar: Path) -> None:
    with tarfile.open(layer_tar, mode="w", format=tarfile.PAX_FORMAT) as tar:
        # Walk in sorted order (os.walk order depends on the filesystem) and never follow symlinks:
        # they belong in the image as symlinks, even absolute ones that point elsewhere on the host.
        def add_tree(directory: Path, prefix: str) -> None:
            for entry in sorted(os.scandir(directory), key=lambda e: e.name):
                arcname = f"{prefix}{entry.name}"
                mode = entry.stat(follow_symlinks=False).st_mode
                if stat.S_ISSOCK(mode):
                    continue  # a socket cannot be archived (tar skips them too); a process re-creates it
                info = _normalized(tar.gettarinfo(entry.path, arcname=arcname))
                if info.isreg():
                    with open(entry.path, "rb") as data:
                        tar.addfile(info, data)
                else:
                    tar.addfile(info)
                if stat.S_ISDIR(mode):
                    add_tree(Path(entry.path), f"{arcname}/")

        add_tree(rootfs, "")


@dataclass(frozen=True)
class _Blob:
    digest: str
    size: int

    @property
    def name(self) -> str:
        return "blobs/sha256/" + self.digest.split(":", 1)[1]


def _json_blob(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def _blob_of(data: bytes) -> _Blob:
    return _Blob(f"sha256:{hashlib.sha256(data).hexdigest()}", len(data))


def _file_blob(path: Path) -> _Blob:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return _Blob(f"sha256:{digest.hexdigest()}", path.stat().st_size)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def pack_rootfs(rootfs_dir: Path, *, tag: str, output: Path | None = None, entrypoint: Sequence[str] = (),
                cmd: Sequence[str] = (), env: Sequence[str] = (DEFAULT_PATH_ENV,), working_dir: str = "",
                user: str = "", compress: bool = True) -> Path:
    """Write ``rootfs_dir`` as a one-layer OCI image archive named ``tag``; return the archive path.

    ``output`` defaults to ``<rootfs_dir>.oci.tar`` next to the directory. ``entrypoint``/``cmd``/
    ``env``/``working_dir``/``user`` become the image config (Docker's ENTRYPOINT, CMD, ENV, WORKDIR,
    USER). The archive is written to a temporary file and renamed, so a failure leaves no half file.
    """
    rootfs = Path(rootfs_dir)
    if not rootfs.is_dir():
        raise ImageError(f"cannot pack {rootfs}: it is not a directory")
    reference = normalize_reference(tag)
    for i, item in enumerate(env):
        if "=" not in item or item.startswith("="):
            raise ImageError(f"image {reference}: env[{i}] {item!r} is not NAME=value")
    if working_dir and not working_dir.startswith("/"):
        raise ImageError(f"image {reference}: working_dir {working_dir!r} must be an absolute path")
    target = Path(output) if output is not None else rootfs.parent / f"{rootfs.name}.oci.tar"
    if target.absolute().is_relative_to(rootfs.absolute()):
        raise ImageError(f"cannot write the image of {rootfs} to {target}: the archive would be inside the "
                         "directory it packs")
    target.parent.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(prefix=".pack-", dir=target.parent) as scratch:
        layer_path = Path(scratch) / "layer.tar"
        _write_layer(rootfs, layer_path)
        diff_id = _file_blob(layer_path).digest  # the digest of the uncompressed layer, for the config
        if compress:
            gzipped = Path(scratch) / "layer.tar.gz"
            # mtime=0 and no file name in the gzip header keep the compressed digest reproducible.
            with (open(layer_path, "rb") as plain_file, open(gzipped, "wb") as raw,
                  gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz):
                shutil.copyfileobj(plain_file, gz, 1 << 20)
            layer_path = gzipped
        layer = _file_blob(layer_path)

        image_config: dict[str, object] = {"Env": list(env)}
        if entrypoint:
            image_config["Entrypoint"] = list(entrypoint)
        if cmd:
            image_config["Cmd"] = list(cmd)
        if working_dir:
            image_config["WorkingDir"] = working_dir
        if user:
            image_config["User"] = user
        platform_fields = _platform()
        config_bytes = _json_blob({
            **platform_fields,
            "config": image_config,
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "history": [{"created_by": "kubelite pack_rootfs", "comment": reference}],
        })
        config = _blob_of(config_bytes)
        manifest_bytes = _json_blob({
            "schemaVersion": 2,
            "mediaType": MEDIA_MANIFEST,
            "config": {"mediaType": MEDIA_CONFIG, "digest": config.digest, "size": config.size},
            "layers": [{"mediaType": MEDIA_LAYER_GZIP if compress else MEDIA_LAYER_TAR,
                        "digest": layer.digest, "size": layer.size}],
        })
        manifest = _blob_of(manifest_bytes)
        index_bytes = _json_blob({
            "schemaVersion": 2,
            "mediaType": MEDIA_INDEX,
            "manifests": [{
                "mediaType": MEDIA_MANIFEST, "digest": manifest.digest, "size": manifest.size,
                "platform": platform_fields,
                "annotations": {ANNOTATION_CONTAINERD_NAME: reference,
                                ANNOTATION_REF_NAME: reference.rsplit(":", 1)[1]},
            }],
        })

        partial = Path(scratch) / "archive.tar"
        with tarfile.open(partial, mode="w", format=tarfile.PAX_FORMAT) as archive:
            _add_bytes(archive, "oci-layout", _json_blob({"imageLayoutVersion": "1.0.0"}))
            _add_bytes(archive, "index.json", index_bytes)
            for directory in ("blobs", "blobs/sha256"):
                info = tarfile.TarInfo(directory)
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                archive.addfile(info)
            with open(layer_path, "rb") as layer_data:
                info = tarfile.TarInfo(layer.name)
                info.size = layer.size
                info.mode = 0o644
                archive.addfile(info, layer_data)
            _add_bytes(archive, config.name, config_bytes)
            _add_bytes(archive, manifest.name, manifest_bytes)
        os.replace(partial, target)
    return target


def pause_image_archive(*, output: Path, binary: Path = PAUSE_BINARY) -> Path:
    """Write the sandbox image `PAUSE_IMAGE` (``/pause`` as ENTRYPOINT) to ``output``; return it."""
    source = Path(binary)
    if not source.is_file():
        raise ImageError(f"the pause binary {source} does not exist; it is built from native/pause.c when "
                         "kubelite is installed (a C compiler is needed: reinstall kubelite with gcc present)")
    if not os.access(source, os.X_OK):
        raise ImageError(f"the pause binary {source} is not executable")
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".pause-rootfs-", dir=Path(output).parent) as rootfs:
        shutil.copyfile(source, Path(rootfs) / "pause")
        os.chmod(Path(rootfs) / "pause", 0o755)
        return pack_rootfs(Path(rootfs), tag=PAUSE_IMAGE, output=output, entrypoint=["/pause"], env=())


def _elf_is_static(path: Path) -> bool:
    """True when ``path`` is an ELF executable without a program interpreter (PT_INTERP)."""
    with open(path, "rb") as f:
        ident = f.read(16)
        if len(ident) < 16 or ident[:4] != b"\x7fELF":
            raise ImageError(f"{path} is not an ELF executable")
        is64 = ident[4] == 2
        order = "<" if ident[5] == 1 else ">"
        header = f.read(48 if is64 else 36)
        if is64:
            phoff, = struct.unpack_from(order + "Q", header, 16)
            phentsize, phnum = struct.unpack_from(order + "HH", header, 38)
        else:
            phoff, = struct.unpack_from(order + "I", header, 12)
            phentsize, phnum = struct.unpack_from(order + "HH", header, 26)
        for i in range(phnum):
            f.seek(phoff + i * phentsize)
            p_type, = struct.unpack(order + "I", f.read(4))
            if p_type == 3:  # PT_INTERP: needs the dynamic loader and the host's libc
                return False
    return True


def busybox_rootfs(directory: Path, *, busybox: Path = Path("/bin/busybox")) -> Path:
    """Build a busybox userland in ``directory`` (created; must be empty if it exists); return it.

    It holds ``/bin/busybox`` (a static build: Debian's busybox-static), a symlink per applet at the
    path busybox lists for it (``sh``, ``httpd``, ``nc``, ``wget``, ``sleep``, ``nslookup``, ...),
    ``/etc/passwd`` and ``/etc/group`` with root and nobody, and ``/tmp`` (mode 1777).
    """
    source = Path(busybox)
    if not source.is_file():
        raise ImageError(f"{source} does not exist; install Debian's busybox-static (apt-get install busybox-static)")
    if not _elf_is_static(source):
        raise ImageError(f"{source} is dynamically linked and would not run inside an image without the host's "
                         "libc; install Debian's busybox-static, which replaces it with a static build")
    try:
        listing = subprocess.run([str(source), "--list-full"], capture_output=True, text=True, timeout=30,
                                 check=True).stdout.split()
    except (OSError, subprocess.SubprocessError) as err:
        raise ImageError(f"cannot list the applets of {source}: {err}")
    applets = {Path(p).name: p for p in listing}
    missing = [name for name in BUSYBOX_REQUIRED_APPLETS if name not in applets]
    if missing:
        raise ImageError(f"{source} lacks the applets {', '.join(missing)}; install Debian's busybox-static")

    root = Path(directory)
    if root.exists() and any(root.iterdir()):
        raise ImageError(f"cannot build a busybox rootfs in {root}: the directory is not empty")
    for sub, mode in (("bin", 0o755), ("sbin", 0o755), ("usr/bin", 0o755), ("usr/sbin", 0o755), ("etc", 0o755),
                      ("root", 0o700), ("tmp", 0o1777), ("var/tmp", 0o1777), ("proc", 0o555), ("sys", 0o555),
                      ("dev", 0o755)):
        (root / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(root / sub, mode)  # explicit: mkdir's mode is filtered by the umask
    os.chmod(root, 0o755)
    shutil.copyfile(source, root / "bin" / "busybox")
    os.chmod(root / "bin" / "busybox", 0o755)
    for relative in sorted(set(listing)):
        link = root / relative
        if link.name == "busybox" or link.exists() or link.is_symlink():
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to("/bin/busybox")
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n"
                                         "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
    (root / "etc" / "group").write_text("root:x:0:\nnogroup:x:65534:\n")
    for name in ("passwd", "group"):
        os.chmod(root / "etc" / name, 0o644)
    return root


_UNPACKED_RE: Final = re.compile(r"unpacking (\S+) \(sha256:[0-9a-f]{64}\)")


async def import_archive(path: Path, *, address: str, namespace: str = "k8s.io", snapshotter: str = "overlayfs",
                         ctr: str = "ctr", timeout: float = 300.0) -> list[str]:
    """Import an image archive into containerd at ``address`` (its socket); return the image names.

    Uses ``ctr`` (shipped with containerd) and unpacks into ``snapshotter``, which must be the one
    the CRI plugin is configured with, or CreateContainer will not find the unpacked layers.
    """
    archive = Path(path)
    if not archive.is_file():
        raise ImageError(f"cannot import {archive}: no such file")
    socket_path = address[len("unix://"):] if address.startswith("unix://") else address
    try:
        is_socket = stat.S_ISSOCK(os.stat(socket_path).st_mode)
    except OSError:
        is_socket = False
    if not is_socket:
        # Checked here because ctr would otherwise wait its whole connect timeout before failing.
        raise ImageError(f"cannot import {archive}: containerd socket {socket_path} does not exist "
                         "(is containerd running for this data dir?)")
    ctr_path = shutil.which(ctr)
    if ctr_path is None:
        raise ImageError(f"cannot import {archive}: the {ctr!r} binary is not in PATH (it ships with containerd: "
                         "apt-get install containerd)")
    process = await asyncio.create_subprocess_exec(
        ctr_path, "--address", socket_path, "--namespace", namespace, "images", "import",
        "--snapshotter", snapshotter, str(archive),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise ImageError(f"importing {archive} into containerd at {socket_path} took longer than {timeout:g}s; "
                         "ctr was stopped")
    except BaseException:
        # Cancelled: do not leave our ctr child running on its own.
        if process.returncode is None:
            process.kill()
            await process.wait()
        raise
    if process.returncode != 0:
        message = (stderr.decode(errors="replace").strip() or stdout.decode(errors="replace").strip()
                   or f"exit code {process.returncode}")
        raise ImageError(f"importing {archive} into containerd at {socket_path} (namespace {namespace}, "
                         f"snapshotter {snapshotter}) failed: {message.splitlines()[-1]}")
    names = _UNPACKED_RE.findall(stdout.decode(errors="replace"))
    if not names:
        raise ImageError(f"importing {archive}: ctr imported no named image (the archive's index.json must "
                         f"annotate its manifest with {ANNOTATION_CONTAINERD_NAME})")
    return names
