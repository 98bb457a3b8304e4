"""The synthetic business shared by every simulator (see `core`)."""

from .core import REFERENCE_TIME, SCALES, World, build_world, stable_rng

__all__ = ["REFERENCE_TIME", "SCALES", "World", "build_world", "stable_rng"]
