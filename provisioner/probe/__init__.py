"""Upstream probing: is each upstream alive, does its token flow work, how fast is it.

``probe_profile(profile)`` runs, for every upstream of every cache and concurrently, ``GET /v2/``
(a 401 with a Bearer challenge counts as alive), the token flow through the challenge's realm
(anonymous, or with the upstream's credentials) and a ``HEAD`` of the cache's probe image
manifest, all within ``probe.timeout``. :mod:`provisioner.failover` turns the report into the
active upstream per cache.
"""

from provisioner.probe.result import ProbeReport, ProbeResult, ProbeTask, Step
from provisioner.probe.runner import (
    DEFAULT_PROBE_IMAGE,
    image_path,
    plan_tasks,
    probe_profile,
    probe_tasks,
)

__all__ = [
    "DEFAULT_PROBE_IMAGE",
    "ProbeReport",
    "ProbeResult",
    "ProbeTask",
    "Step",
    "image_path",
    "plan_tasks",
    "probe_profile",
    "probe_tasks",
]
