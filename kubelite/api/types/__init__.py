"""Typed msgspec structs for the built-in kinds, generated from their OpenAPI schemas (see ``structs``)."""

from kubelite.api.types.structs import conforms, struct_for

__all__ = ["conforms", "struct_for"]
