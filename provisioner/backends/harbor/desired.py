"""What a Harbor target must hold: per cache, one registry endpoint and one proxy-cache project.

Pure: built from the profile and the upstream selection only.

- **Endpoint** ``provisioner-<cache>``, always of type ``docker-registry``, whose URL is the
  cache's active upstream. Failover swaps that URL in place, because a proxy project's
  ``registry_id`` can never change (harbor.md §0.1-2) and an endpoint's ``type`` cannot either.
  A ``docker-hub`` upstream is therefore registered as ``docker-registry`` at
  ``https://registry-1.docker.io``: the ``docker-hub`` type ignores its URL for pulls (§0.4), so
  a ``docker-hub`` endpoint could never be swapped onto a mirror, and switching type later would
  mean deleting the project and its cache. The price: clients write ``library/`` explicitly
  (``harbor.example/dockerhub/library/nginx``), for every upstream alike (§0.5).
- **Ownership marker** in the endpoint description, ``[provisioner:target=T,cache=C,secret=F]``.
  ``F`` is a salted fingerprint of the upstream password (``none`` without one): Harbor masks
  the secret on read (§0.8), so the fingerprint is how a changed password is seen.
- **Project** ``<cache>``, bound to that endpoint, with the metadata the profile sets (strings
  on the wire, §5).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from provisioner import secrets
from provisioner.backends.base import TargetContext
from provisioner.profile.model import HarborTarget, Upstream
from provisioner.profile.types import reveal

ENDPOINT_TYPE = "docker-registry"
NAME_PREFIX = "provisioner-"
MAX_ENDPOINT_NAME = 64  # Harbor refuses longer endpoint names (400)
NO_SECRET = "none"
MARKER = re.compile(
    r"\s*\[provisioner:target=(?P<target>[a-z0-9-]+),cache=(?P<cache>[a-z0-9-]+)"
    r",secret=(?P<secret>[0-9a-f]{16}|none)\]\s*$"
)


@dataclass(frozen=True)
class Marker:
    """The ownership marker of an endpoint this tool created."""

    target: str
    cache: str
    secret: str

    def text(self) -> str:
        return f"[provisioner:target={self.target},cache={self.cache},secret={self.secret}]"


def parse_marker(description: object) -> Marker | None:
    # The description comes from the server: anything that is not text carries no marker.
    match = MARKER.search(description) if isinstance(description, str) else None
    return Marker(match["target"], match["cache"], match["secret"]) if match else None


def strip_secret(description: object) -> str:
    """The description without the secret fingerprint (compared as plain text; the fingerprint
    is compared on its own and shown masked)."""
    text = description if isinstance(description, str) else ""
    return re.sub(r",secret=(?:[0-9a-f]{16}|none)\]", "]", text).strip()


def endpoint_name(cache: str) -> str:
    """``provisioner-<cache>``, shortened with a hash when it would exceed Harbor's 64 chars."""
    name = f"{NAME_PREFIX}{cache}"
    if len(name) <= MAX_ENDPOINT_NAME:
        return name
    digest = hashlib.sha256(cache.encode()).hexdigest()[:8]
    return f"{name[:MAX_ENDPOINT_NAME - 9].rstrip('-')}-{digest}"


def normalise_url(url: str | None) -> str:
    """Harbor's URL normalisation (§3), plus a lower-cased scheme and host, for comparing."""
    text = (url or "").strip().rstrip("/")
    if text and "://" not in text:
        text = f"http://{text}"
    scheme, _, rest = text.partition("://")
    host, slash, path = rest.partition("/")
    path = path.split("?", 1)[0].split("#", 1)[0]
    return f"{scheme.lower()}://{host.lower()}{slash}{path}".rstrip("/") if text else ""


@dataclass(frozen=True)
class EndpointSpec:
    """One desired registry endpoint. ``access_secret`` is never rendered or compared."""

    cache: str
    name: str
    upstream: str
    url: str
    insecure: bool
    access_key: str
    access_secret: str = field(repr=False)
    secret_fp: str
    description: str
    type: str = ENDPOINT_TYPE

    def view(self) -> dict[str, Any]:
        """The managed fields as the planner compares them (the secret as its fingerprint)."""
        return {
            "name": self.name,
            "type": self.type,
            "url": normalise_url(self.url),
            "insecure": self.insecure,
            "description": strip_secret(self.description),
            "credential": {"access_key": self.access_key, "access_secret": self.secret_fp},
        }

    def create_body(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "url": self.url,
            "insecure": self.insecure,
            "description": self.description,
            "credential": {"type": "basic", "access_key": self.access_key,
                           "access_secret": self.access_secret},
        }

    def update_body(self) -> dict[str, Any]:
        """The flat ``RegistryUpdate`` body. The secret is always resent: Harbor drops the stored
        one when the URL changes, and it cannot be read back to know whether it still matches."""
        return {
            "name": self.name,
            "description": self.description,
            "url": self.url,
            "insecure": self.insecure,
            "credential_type": "basic",
            "access_key": self.access_key,
            "access_secret": self.access_secret,
        }

    def ping_body(self) -> dict[str, Any]:
        return {key: value for key, value in self.update_body().items()
                if key not in ("name", "description")} | {"type": self.type}


@dataclass(frozen=True)
class ProjectSpec:
    """One desired proxy-cache project bound to ``endpoint``. ``metadata`` values are strings."""

    name: str
    endpoint: str
    metadata: dict[str, str]


@dataclass(frozen=True)
class Desired:
    endpoints: dict[str, EndpointSpec]  # cache -> endpoint
    projects: dict[str, ProjectSpec]  # cache -> project
    warnings: tuple[str, ...] = ()


def build(ctx: TargetContext) -> Desired:
    """The desired endpoints and projects of ``ctx`` (a Harbor target), in profile order."""
    spec = ctx.spec
    assert isinstance(spec, HarborTarget)
    endpoints: dict[str, EndpointSpec] = {}
    projects: dict[str, ProjectSpec] = {}
    warnings: list[str] = []
    for cache in ctx.caches:
        upstream_name = ctx.selection.active[cache]
        upstream = ctx.profile.upstreams[upstream_name]
        endpoints[cache] = endpoint_spec(ctx.name, cache, upstream_name, upstream)
        projects[cache] = ProjectSpec(cache, endpoints[cache].name, project_metadata(spec))
        if upstream.ca_file is not None:
            warnings.append(f"cache {cache}: upstream {upstream_name} has ca_file, which Harbor "
                            "does not get from this tool; Harbor must trust that CA itself")
    return Desired(endpoints, projects, tuple(warnings))


def endpoint_spec(target: str, cache: str, upstream_name: str, upstream: Upstream) -> EndpointSpec:
    name = endpoint_name(cache)
    password = reveal(upstream.password) or ""
    fp = secrets.fingerprint(password, f"harbor:{name}") if password else NO_SECRET
    marker = Marker(target, cache, fp)
    description = f"cache {cache} via {upstream_name} ({upstream.kind}) {marker.text()}"
    return EndpointSpec(
        cache=cache, name=name, upstream=upstream_name, url=upstream.endpoint,
        insecure=upstream.insecure, access_key=upstream.username or "", access_secret=password,
        secret_fp=fp, description=description,
    )


def project_metadata(spec: HarborTarget) -> dict[str, str]:
    """Every metadata key the profile manages, as Harbor's strings; unset keys are not managed."""
    metadata = {"public": "true" if spec.public else "false"}
    if spec.proxy_speed_kb is not None:
        metadata["proxy_speed_kb"] = str(spec.proxy_speed_kb)
    if spec.max_upstream_conn is not None:
        metadata["max_upstream_conn"] = str(spec.max_upstream_conn)
    return metadata
