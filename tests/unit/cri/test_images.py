"""OCI image archives built by kubelite: structure, digests, reproducibility, references, busybox."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import socket
import stat
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubelite.cri.images import (
    BUSYBOX_REQUIRED_APPLETS,
    PAUSE_IMAGE,
    ImageError,
    busybox_rootfs,
    import_archive,
    normalize_reference,
    pack_rootfs,
    pause_image_archive,
)
from kubelite.native import PAUSE_BINARY


@pytest.mark.parametrize(
    ("ref", "normalized"),
    [
        pytest.param("busybox", "docker.io/library/busybox:latest", id="short"),
        pytest.param("busybox:1.35", "docker.io/library/busybox:1.35", id="short-tag"),
        pytest.param("team/app:v2", "docker.io/team/app:v2", id="docker-hub-user"),
        pytest.param("kubelite.local/pause:3.10", "kubelite.local/pause:3.10", id="pause"),
        pytest.param("localhost/app", "localhost/app:latest", id="localhost"),
        pytest.param("localhost:5000/a/b:x", "localhost:5000/a/b:x", id="registry-port"),
        pytest.param("registry.k8s.io/pause:3.10", "registry.k8s.io/pause:3.10", id="registry"),
        pytest.param("a__b/c-d.e_f:T_1.0-x", "docker.io/a__b/c-d.e_f:T_1.0-x", id="separators"),
    ],
)
def test_normalize_reference(ref: str, normalized: str) -> None:
    assert normalize_reference(ref) == normalized


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        pytest.param("", "is empty", id="empty"),
        pytest.param(" busybox", "surrounding spaces", id="spaces"),
        pytest.param("Busybox", "repository 'library/Busybox' is not valid", id="uppercase"),
        pytest.param("busybox:-1", "tag '-1' is not valid", id="bad-tag"),
        pytest.param("busybox@sha256:" + "0" * 64, "a digest cannot be chosen", id="digest"),
        pytest.param("a..b/c", "registry 'a..b' is not a valid host", id="double-dot-registry"),
        pytest.param("x/a..b", "repository 'x/a..b' is not valid", id="double-dot-path"),
        pytest.param("reg.io/", "repository '' is not valid", id="empty-repo"),
        pytest.param("x/" + "a" * 260, "longer than 255", id="too-long"),
    ],
)
def test_normalize_reference_rejects(ref: str, message: str) -> None:
    with pytest.raises(ImageError, match=message):
        normalize_reference(ref)


def make_tree(root: Path) -> Path:
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "tool").write_bytes(b"#!/bin/sh\necho tool\n")
    (root / "bin" / "tool").chmod(0o755)
    (root / "bin" / "alias").symlink_to("/bin/tool")
    (root / "etc").mkdir()
    (root / "etc" / "motd").write_text("hello\n")
    os.link(root / "etc" / "motd", root / "etc" / "motd.copy")
    (root / "tmp").mkdir()
    (root / "tmp").chmod(0o1777)
    return root


def read_archive(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {m.name: (tar.extractfile(m).read() if m.isfile() else b"") for m in tar.getmembers()}  # type: ignore[union-attr]


def blob(files: dict[str, bytes], digest: str) -> bytes:
    data = files["blobs/sha256/" + digest.split(":", 1)[1]]
    assert "sha256:" + hashlib.sha256(data).hexdigest() == digest
    return data


@pytest.mark.parametrize("compress", [pytest.param(True, id="gzip"), pytest.param(False, id="plain-tar")])
def test_pack_rootfs_writes_an_oci_image_layout(tmp_path: Path, compress: bool) -> None:
    rootfs = make_tree(tmp_path / "rootfs")
    archive = pack_rootfs(rootfs, tag="kubelite.local/tool:1", cmd=["/bin/tool"], env=["PATH=/bin", "A=b=c"],
                          working_dir="/tmp", user="65534", compress=compress)
    assert archive == tmp_path / "rootfs.oci.tar"
    files = read_archive(archive)
    assert json.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads(files["index.json"])
    (entry,) = index["manifests"]
    assert entry["annotations"] == {"io.containerd.image.name": "kubelite.local/tool:1",
                                    "org.opencontainers.image.ref.name": "1"}
    assert entry["platform"]["os"] == "linux"
    manifest_bytes = blob(files, entry["digest"])
    assert len(manifest_bytes) == entry["size"]
    manifest = json.loads(manifest_bytes)
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    config = json.loads(blob(files, manifest["config"]["digest"]))
    (layer_desc,) = manifest["layers"]
    assert layer_desc["mediaType"].endswith("+gzip" if compress else ".tar")
    layer = blob(files, layer_desc["digest"])
    plain = gzip.decompress(layer) if compress else layer
    assert config["rootfs"] == {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(plain).hexdigest()]}
    assert config["config"] == {"Cmd": ["/bin/tool"], "Env": ["PATH=/bin", "A=b=c"], "WorkingDir": "/tmp",
                                "User": "65534"}
    assert (config["os"], config["architecture"]) == ("linux", entry["platform"]["architecture"])

    with tarfile.open(fileobj=io.BytesIO(plain)) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert list(members) == ["bin", "bin/alias", "bin/tool", "etc", "etc/motd", "etc/motd.copy", "tmp"]
        assert members["bin/alias"].issym() and members["bin/alias"].linkname == "/bin/tool"
        assert members["bin/tool"].isreg() and stat.S_IMODE(members["bin/tool"].mode) == 0o755
        assert tar.extractfile("bin/tool").read() == b"#!/bin/sh\necho tool\n"  # type: ignore[union-attr]
        assert members["etc/motd.copy"].islnk() and members["etc/motd.copy"].linkname == "etc/motd"
        assert stat.S_IMODE(members["tmp"].mode) == 0o1777
        assert {m.mtime for m in members.values()} == {0}
        assert {(m.uname, m.gname) for m in members.values()} == {("", "")}


def test_pack_rootfs_is_reproducible(tmp_path: Path) -> None:
    rootfs = make_tree(tmp_path / "rootfs")
    first = pack_rootfs(rootfs, tag="kubelite.local/tool:1", output=tmp_path / "a.tar")
    os.utime(rootfs / "etc" / "motd", (1, 1))  # packing ignores timestamps
    second = pack_rootfs(rootfs, tag="kubelite.local/tool:1", output=tmp_path / "b.tar")
    assert first.read_bytes() == second.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tar", "b.tar", "rootfs"]  # no scratch left


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"tag": "Bad:tag"}, "is not valid", id="bad-tag"),
        pytest.param({"tag": "x:1", "env": ["NOEQUALS"]}, r"env\[0\] 'NOEQUALS' is not NAME=value", id="bad-env"),
        pytest.param({"tag": "x:1", "working_dir": "tmp"}, "working_dir 'tmp' must be an absolute path",
                     id="relative-workdir"),
    ],
)
def test_pack_rootfs_rejects_bad_input(tmp_path: Path, kwargs: dict[str, object], message: str) -> None:
    rootfs = make_tree(tmp_path / "rootfs")
    with pytest.raises(ImageError, match=message):
        pack_rootfs(rootfs, **kwargs)  # type: ignore[arg-type]
    assert not (tmp_path / "rootfs.oci.tar").exists()


def test_pack_rootfs_needs_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="is not a directory"):
        pack_rootfs(tmp_path / "absent", tag="x:1")


def test_pack_rootfs_refuses_an_archive_inside_the_rootfs(tmp_path: Path) -> None:
    rootfs = make_tree(tmp_path / "rootfs")
    with pytest.raises(ImageError, match="would be inside the directory it packs"):
        pack_rootfs(rootfs, tag="x:1", output=rootfs / "tmp" / "image.tar")
    assert not (rootfs / "tmp" / "image.tar").exists()


def test_pause_image_wraps_the_pause_binary(tmp_path: Path) -> None:
    binary = tmp_path / "pause-bin"
    binary.write_bytes(b"\x7fELF-not-really")
    binary.chmod(0o755)
    archive = pause_image_archive(output=tmp_path / "out" / "pause.tar", binary=binary)
    files = read_archive(archive)
    (entry,) = json.loads(files["index.json"])["manifests"]
    assert entry["annotations"]["io.containerd.image.name"] == PAUSE_IMAGE
    manifest = json.loads(blob(files, entry["digest"]))
    config = json.loads(blob(files, manifest["config"]["digest"]))
    assert config["config"] == {"Entrypoint": ["/pause"], "Env": []}
    layer = gzip.decompress(blob(files, manifest["layers"][0]["digest"]))
    with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
        (member,) = tar.getmembers()
        assert (member.name, stat.S_IMODE(member.mode)) == ("pause", 0o755)
        assert tar.extractfile(member).read() == b"\x7fELF-not-really"  # type: ignore[union-attr]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["pause.tar"]


def test_pause_binary_is_installed() -> None:
    # the install builds it from native/pause.c; without it no pod sandbox can start
    assert PAUSE_BINARY.is_file() and os.access(PAUSE_BINARY, os.X_OK)


def test_missing_pause_binary_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match=r"pause binary .* does not exist; it is built from native/pause\.c"):
        pause_image_archive(output=tmp_path / "p.tar", binary=tmp_path / "nope")


def test_busybox_rootfs(tmp_path: Path) -> None:
    root = busybox_rootfs(tmp_path / "bb")
    busybox = root / "bin" / "busybox"
    assert busybox.read_bytes() == Path("/bin/busybox").read_bytes()
    assert stat.S_IMODE(busybox.stat().st_mode) == 0o755
    links = {p.name: p for p in root.rglob("*") if p.is_symlink()}
    for applet in BUSYBOX_REQUIRED_APPLETS:
        assert os.readlink(links[applet]) == "/bin/busybox"
    assert links["sh"] == root / "bin" / "sh"
    assert "root:x:0:0:root:/root:/bin/sh" in (root / "etc" / "passwd").read_text()
    assert (root / "etc" / "group").read_text().startswith("root:x:0:\n")
    assert stat.S_IMODE((root / "tmp").stat().st_mode) == 0o1777


def test_busybox_rootfs_refuses_a_non_empty_dir(tmp_path: Path) -> None:
    (tmp_path / "bb").mkdir()
    (tmp_path / "bb" / "keep").write_text("mine")
    with pytest.raises(ImageError, match="is not empty"):
        busybox_rootfs(tmp_path / "bb")
    assert (tmp_path / "bb" / "keep").read_text() == "mine"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(lambda d: Path("/bin/ls"), "is dynamically linked", id="dynamic-binary"),
        pytest.param(lambda d: (d / "script").write_text("#!/bin/sh\n") and d / "script", "is not an ELF",
                     id="script"),
        pytest.param(lambda d: d / "absent", "does not exist; install Debian's busybox-static", id="absent"),
    ],
)
def test_busybox_rootfs_needs_a_static_busybox(tmp_path: Path, make: object, message: str) -> None:
    source = make(tmp_path)  # type: ignore[operator]
    with pytest.raises(ImageError, match=message):
        busybox_rootfs(tmp_path / "bb", busybox=source)
    assert not (tmp_path / "bb").exists()


@pytest.fixture
def bound_socket() -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="klimg-"))
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(str(directory / "c.sock"))
        yield directory / "c.sock"
    finally:
        sock.close()
        shutil.rmtree(directory, ignore_errors=True)


async def test_import_archive_checks_its_inputs(tmp_path: Path, bound_socket: Path) -> None:
    archive = tmp_path / "a.tar"
    with pytest.raises(ImageError, match="no such file"):
        await import_archive(archive, address=str(bound_socket))
    archive.write_bytes(b"")
    with pytest.raises(ImageError, match=r"containerd socket /nonexistent/c.sock does not exist"):
        await import_archive(archive, address="unix:///nonexistent/c.sock")
    with pytest.raises(ImageError, match="'kubelite-no-ctr' binary is not in PATH"):
        await import_archive(archive, address=f"unix://{bound_socket}", ctr="kubelite-no-ctr")
