"""kubelite: a small, complete Kubernetes distribution.

This package is the shared core (``kubelite.api``, ``kubelite.client``, the CLI and configuration);
``kubelite.controlplane``, ``kubelite.agent``, ``kubelite.cri``, ``kubelite.cni`` and
``kubelite.native`` live in the repository's top-level folders of the same names.
"""

__version__ = "0.1.0"
