"""kubelite.cri: the CRI v1 client, containerd configuration and supervision, local images.

See README.md in this folder. Re-exports only.
"""

from kubelite.cri.client import (
    CriError,
    CriNotFound,
    RuntimeClient,
    RuntimeTimeout,
    RuntimeUnavailable,
)
from kubelite.cri.containerd import (
    ContainerdConfig,
    ContainerdError,
    ContainerdPaths,
    ContainerdSupervisor,
    RestartBackoff,
)
from kubelite.cri.images import (
    PAUSE_IMAGE,
    ImageError,
    busybox_rootfs,
    import_archive,
    normalize_reference,
    pack_rootfs,
    pause_image_archive,
)

__all__ = [
    "PAUSE_IMAGE",
    "ContainerdConfig",
    "ContainerdError",
    "ContainerdPaths",
    "ContainerdSupervisor",
    "CriError",
    "CriNotFound",
    "ImageError",
    "RestartBackoff",
    "RuntimeClient",
    "RuntimeTimeout",
    "RuntimeUnavailable",
    "busybox_rootfs",
    "import_archive",
    "normalize_reference",
    "pack_rootfs",
    "pause_image_archive",
]
