"""The kubelite API server: HTTP edge, registry, watch cache, discovery and Table printing."""
