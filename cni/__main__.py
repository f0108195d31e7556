"""The in-process fallback: ``python -m kubelite.cni <plugin>`` does the CNI call itself.

The installed shim execs this when no resident server answers on its socket (the agent is down or
not started yet), so pod networking never depends on the agent being up, only gets slower.
"""

from __future__ import annotations

import os
import sys


def main() -> int:
    plugin = sys.argv[1] if len(sys.argv) > 1 else os.path.basename(sys.argv[0])
    from kubelite.cni.plugins import run

    code, out = run(plugin, os.environ, sys.stdin.buffer.read())
    sys.stdout.buffer.write(out)
    sys.stdout.flush()
    return code


if __name__ == "__main__":
    sys.exit(main())
