"""Build wiring for kubelite.

One import namespace, ``kubelite``, assembled from the top-level folders of the repository
(DESIGN.md, "Layout"). Compiled parts:

* every ``native/*.pyx`` becomes the extension ``kubelite.native.<name>``; each has a pure-Python twin,
  so a machine without a C compiler gets a warning and a working (slower) install, never a broken one;
* ``native/pause.c`` becomes the static ``pause`` binary shipped inside ``kubelite.native`` (the agent
  wraps it as the sandbox image, since no image can be pulled from the internet).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent

# import name -> folder in the repository
PARTS = {
    "kubelite": "kubelite",
    "kubelite.controlplane": "controlplane",
    "kubelite.agent": "agent",
    "kubelite.cri": "cri",
    "kubelite.cni": "cni",
    "kubelite.native": "native",
}


def discover_packages() -> tuple[list[str], dict[str, str]]:
    packages: list[str] = []
    package_dir: dict[str, str] = {}
    for name, folder in PARTS.items():
        package_dir[name] = folder
        for init in sorted((HERE / folder).rglob("__init__.py")):
            rel = init.parent.relative_to(HERE / folder)
            if any(part.startswith((".", "_build")) for part in rel.parts):
                continue
            packages.append(".".join([name, *rel.parts]) if rel.parts else name)
    return packages, package_dir


def cython_extensions() -> list:  # list[Extension]
    pyx = sorted(glob.glob("native/*.pyx"))
    try:
        from Cython.Build import cythonize
    except ImportError:
        print("WARNING: Cython is not installed; kubelite.native uses its pure-Python twins", file=sys.stderr)
        return []
    from setuptools import Extension

    exts = [
        Extension(f"kubelite.native.{Path(p).stem}", [p], extra_compile_args=["-O3"])
        for p in pyx
    ]
    return cythonize(exts, compiler_directives={"language_level": "3"}, quiet=True)


class BuildNative(build_ext):
    """Build the Cython modules and the static pause binary; degrade to pure Python on failure."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # a missing compiler must not break the install
            print(f"WARNING: compiled kubelite.native modules not built ({exc}); "
                  "falling back to the pure-Python twins", file=sys.stderr)
        self.build_pause()
        self.build_cni_shim()

    def build_extension(self, ext) -> None:  # type: ignore[no-untyped-def]
        try:
            super().build_extension(ext)
        except Exception as exc:
            print(f"WARNING: {ext.name} not compiled ({exc}); its pure-Python twin will be used",
                  file=sys.stderr)

    def build_pause(self) -> None:
        if self.inplace:
            out_dir = HERE / "native"
        else:
            out_dir = Path(self.build_lib) / "kubelite" / "native"
        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / "pause"
        cc = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")
        if not cc:
            print("WARNING: no C compiler; the pause binary was not built", file=sys.stderr)
            return
        cmd = [cc, "-Os", "-static", "-Wall", "-Werror", "-o", str(target), str(HERE / "native" / "pause.c")]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            print(f"WARNING: pause binary not built: {result.stderr.strip()}", file=sys.stderr)
            return
        subprocess.run(["strip", str(target)], check=False, capture_output=True)

    def build_cni_shim(self) -> None:
        """``cni/shim.c`` -> ``kubelite/cni/kubelite-cni-shim``: the tiny executable containerd runs per CNI call.

        Without a compiler the agent installs a small Python shim instead (slower start, same protocol).
        """
        out_dir = HERE / "cni" if self.inplace else Path(self.build_lib) / "kubelite" / "cni"
        out_dir.mkdir(parents=True, exist_ok=True)
        cc = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")
        if not cc:
            print("WARNING: no C compiler; the CNI shim was not built", file=sys.stderr)
            return
        target = out_dir / "kubelite-cni-shim"
        cmd = [cc, "-Os", "-static", "-Wall", "-Werror", "-o", str(target), str(HERE / "cni" / "shim.c")]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            print(f"WARNING: CNI shim not built: {result.stderr.strip()}", file=sys.stderr)
            return
        subprocess.run(["strip", str(target)], check=False, capture_output=True)


packages, package_dir = discover_packages()

setup(
    packages=packages,
    package_dir=package_dir,
    package_data={"kubelite.native": ["pause", "*.pyi", "*.pxd", "*.pyx", "pause.c"],
                  "kubelite.cni": ["kubelite-cni-shim", "shim.c"],
                  "kubelite.api.openapi": ["definitions.json.gz", "openapiv2.proto", "*.pyi"],
                  "kubelite.api.protobuf": ["schema.json.gz"]},
    ext_modules=cython_extensions(),
    cmdclass={"build_ext": BuildNative},
    zip_safe=False,
)
