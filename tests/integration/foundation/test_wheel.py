"""`pip wheel .` builds a wheel whose Cython module, cffi binding and pause binary work installed."""

from __future__ import annotations

import os
import subprocess
import sys
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
        "from kubelite.native import PAUSE_BINARY;"
        "print(kubelite.__file__, s.IMPLEMENTATION, n.available(), PAUSE_BINARY.exists(),"
        " bool(PAUSE_BINARY.stat().st_mode & 0o111))"
    )
    env = dict(os.environ, PYTHONPATH=str(target))
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env,
                          cwd=tmp_path, check=True)
    location, impl, nft, pause, executable = done.stdout.split()
    assert location.startswith(str(target)), "imported from the installed wheel, not the checkout"
    assert (impl, nft, pause, executable) == ("cython", "True", "True", "True")
