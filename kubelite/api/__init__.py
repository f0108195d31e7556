"""Kubernetes API kinds, meta types, validation, defaulting, selectors, patch and codecs."""
