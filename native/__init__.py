"""kubelite.native: compiled hot paths with pure-Python twins, the libnftables binding, pause.

Imports nothing else of kubelite. See README.md in this folder.
"""

from pathlib import Path

PAUSE_BINARY = Path(__file__).resolve().parent / "pause"

__all__ = ["PAUSE_BINARY"]
