"""Placeholder; replaced by the real benchmark below in this branch."""
