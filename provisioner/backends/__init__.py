"""Backends: one per target kind, each with the same small surface (see :mod:`.base`)."""

# Requests in flight at once: enough to hide a far server's latency, few enough that a Nexus or
# Harbor (and the upstream pings Harbor makes on each endpoint write) is not overwhelmed.
DEFAULT_PARALLELISM = 16
