"""In-tree scheduler plugins, one module each; the registry and default profile are in ``registry``."""

from kubelite.controlplane.scheduler.plugins.registry import default_profile, in_tree_registry

__all__ = ["default_profile", "in_tree_registry"]
