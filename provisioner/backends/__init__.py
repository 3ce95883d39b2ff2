"""Backends: one per target kind, each with the same small surface (see :mod:`.base`)."""
