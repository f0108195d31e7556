"""`pip wheel .` builds a wheel whose Cython module, cffi binding and pause binary work installed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(REPO)],
        capture_output=True, text=True, timeout=600, check=False)
    assert build.returncode == 0, build.stderr[-3000:]
    wheels = list(out.glob("kubelite-*.whl"))
    assert len(wheels) == 1
    return wheels[0]


def test_wheel_contains_the_compiled_parts_and_every_part(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.startswith("kubelite/native/_scoring.") and n.endswith(".so") for n in names)
    assert "kubelite/native/pause" in names
    for part in ("controlplane", "agent", "cri", "cni", "native"):
        assert f"kubelite/{part}/__init__.py" in names
    assert "kubelite/cli.py" in names
    assert "kubelite/api/openapi/definitions.json.gz" in names
    assert "kubelite/api/protobuf/schema.json.gz" in names


def test_installed_wheel_imports_compiled_modules(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
                    str(wheel)], check=True, timeout=300)
    probe = (
        "import kubelite, kubelite.native.scoring as s, kubelite.native.nftables as n;"
        "from kubelite.native import PAUSE_BINARY, _scoring;"
        "print(kubelite.__file__, _scoring.__file__, s.IMPLEMENTATION, n.available(), PAUSE_BINARY.exists(),"
        " bool(PAUSE_BINARY.stat().st_mode & 0o111))"
    )
    done = subprocess.run([sys.executable, "-S", "-c", probe], capture_output=True, text=True,
                          env=isolated_env(target), cwd=tmp_path, check=True)
    location, kernel, impl, nft, pause, executable = done.stdout.split()
    assert location.startswith(str(target)), "imported from the installed wheel, not the checkout"
    assert kernel.startswith(str(target)), "the compiled kernel came from the wheel"
    assert (impl, nft, pause, executable) == ("cython", "True", "True", "True")


def isolated_env(target: Path) -> dict[str, str]:
    """PYTHONPATH = the installed wheel + third-party packages, without the editable install's finder
    (used with `python -S`, so no .pth file maps `kubelite` back to the checkout)."""
    third_party = sysconfig.get_paths()["purelib"]
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(target), third_party]))


def clean_source_copy(dest: Path) -> Path:
    """The repository's files without build products (what a fresh clone has)."""
    listed = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                            check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        source = REPO / rel
        if source.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / rel)
    return dest


def test_without_a_compiler_the_install_warns_and_falls_back(tmp_path: Path) -> None:
    source = clean_source_copy(tmp_path / "src")
    out = tmp_path / "wheel"
    env = dict(os.environ, CC="/bin/false", CXX="/bin/false", LDSHARED="/bin/false")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", "-w", str(out), str(source)],
                           capture_output=True, text=True, env=env, timeout=600, check=False)
    assert build.returncode == 0, build.stderr[-3000:]
    log = build.stdout + build.stderr
    assert "its pure-Python twin will be used" in log or "falling back to the pure-Python twins" in log
    assert "pause binary not built" in log
    wheel = next(out.glob("kubelite-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert not any(n.endswith(".so") for n in names)
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, timeout=300)
    probe = ("import warnings; warnings.simplefilter('always');"
             "import kubelite.native.scoring as s; from kubelite.native.scoring import NodeColumns;"
             "n = NodeColumns(); n.append(alloc_cpu=1000, alloc_mem=1000, alloc_pods=10);"
             "print(s.IMPLEMENTATION, s.fit(n, pod_cpu=500, pod_mem=500)[1])")
    done = subprocess.run([sys.executable, "-S", "-W", "always", "-c", probe], capture_output=True, text=True,
                          env=isolated_env(target), cwd=tmp_path, check=True)
    assert done.stdout.split() == ["python", "1"]
    assert "is not compiled" in done.stderr and "pure-Python twin" in done.stderr
