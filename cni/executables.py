"""Putting kubelite's CNI executables into the node's CNI bin dir, where containerd looks for them.

Each plugin name (bridge, host-local, loopback, portmap) is a copy of the compiled shim
(``kubelite-cni-shim``, built from ``shim.c`` at install time). Beside them goes
``kubelite-cni-fallback``, a Python script bound to this interpreter that runs a call in-process when
the resident server is not listening. A host without a C compiler gets a Python shim instead of the
C one: same protocol, slower start-up.

Files are written under a temporary name and renamed into place, so a containerd that executes a
plugin during an upgrade runs either the old or the new file, never a half-written one.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

PLUGIN_NAMES = ("bridge", "host-local", "loopback", "portmap")
FALLBACK_NAME = "kubelite-cni-fallback"
SHIM_BINARY = Path(__file__).with_name("kubelite-cni-shim")

_FALLBACK = """#!{python}
# kubelite CNI in-process fallback (installed by kubelite.cni.executables): runs a CNI call without the agent.
import sys
from kubelite.cni.__main__ import main
sys.exit(main())
"""

# Used only when the compiled shim is missing: stdlib only, started with -IS to stay cheap (one shebang argument).
_PY_SHIM = """#!{python} -IS
import os, socket, sys
here = os.path.dirname(os.path.realpath(sys.argv[0]))
plugin = os.path.basename(sys.argv[0])
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect(os.path.join(here, "..", "cni.sock"))
except OSError:
    fallback = os.path.join(here, "{fallback}")
    os.execv(fallback, [fallback, plugin])
env = [f"{{k}}={{v}}".encode() for k, v in os.environ.items() if k.startswith("CNI_")]
s.sendall(b"\\0".join([plugin.encode(), *env]) + b"\\0\\0" + sys.stdin.buffer.read())
s.shutdown(socket.SHUT_WR)
data = b"".join(iter(lambda: s.recv(65536), b""))
code, _, out = data.partition(b"\\n")
if not _:
    print('{{"cniVersion":"1.0.0","code":11,"msg":"kubelite cni: the agent closed the connection"}}')
    sys.exit(1)
sys.stdout.buffer.write(out)
sys.exit(int(code))
"""


def _write_atomically(path: Path, data: bytes, mode: int = 0o755) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def socket_path(bin_dir: Path) -> Path:
    """Where the shims in ``bin_dir`` look for the resident server: ``<bin_dir>/../cni.sock``."""
    return bin_dir.parent / "cni.sock"


def install_plugins(*, bin_dir: Path, python: str = sys.executable, compiled: bool = True) -> bool:
    """Install the four plugins and the fallback into ``bin_dir``; ``True`` when the C shim was used."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    _write_atomically(bin_dir / FALLBACK_NAME, _FALLBACK.format(python=python).encode())
    use_c = compiled and SHIM_BINARY.is_file()
    shim = SHIM_BINARY.read_bytes() if use_c else _PY_SHIM.format(python=python, fallback=FALLBACK_NAME).encode()
    for name in PLUGIN_NAMES:
        target = bin_dir / name
        if target.is_file() and target.read_bytes() == shim:
            continue
        _write_atomically(target, shim)
    return use_c
