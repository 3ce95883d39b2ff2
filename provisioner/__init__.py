"""provisioner: declarative Docker pull-through caches with failover.

A YAML profile names upstreams (Workers, Nginx proxies, mirrors, Docker Hub), caches (ordered
failover lists of upstreams) and targets (Distribution registries, Nexus 3, Harbor). The tool
probes the upstreams, plans what each target must hold, shows the difference and converges.
"""

__version__ = "0.1.0"
