"""The profile, version 1: upstreams, caches, targets and client configs (see PROFILE.md).

Every model is frozen and rejects unknown keys, so a typo is an error rather than a silent
default. Cross-references (a cache naming an upstream, a target naming a cache) are checked in
:meth:`Profile._check_references`; the loader turns every failure into ``file:line: field: why``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from provisioner.profile.types import Duration, ListenAddress, Name, Port, Secret, Url

DOCKER_HUB_URL = "https://registry-1.docker.io"
DOCKER_HUB_AUTH_URL = "https://auth.docker.io"

UpstreamKind = Literal["cloudflare-worker", "nginx-proxy", "mirror", "docker-hub", "registry"]
PROBE_IMAGE_PATTERN = r"^[a-z0-9][a-z0-9._/-]*(:[\w][\w.-]{0,127}|@sha256:[0-9a-f]{64})$"
RESERVED_TARGET_NAMES = ("clients", "upstreams")
ClientFormat = Literal["docker", "containerd", "podman", "k3s"]
ALL_CLIENT_FORMATS: tuple[ClientFormat, ...] = ("docker", "containerd", "podman", "k3s")


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class TlsOptions(Model):
    """How to trust a server. Verification is on unless ``insecure: true`` (which warns)."""

    insecure: bool = Field(False, description="skip TLS verification (warns on every run)")
    ca_file: Path | None = Field(None, description="PEM bundle to trust instead of the system CAs")


class NginxDeploy(Model):
    """Generate an Nginx server that relays a registry for a ``nginx-proxy`` upstream you host."""

    kind: Literal["nginx"] = "nginx"
    output: Path = Field(description="directory the generated nginx config is written to")
    server_name: str = Field(description="the public host name of this proxy")
    listen: ListenAddress | None = Field(None, description="default 443 with TLS, 80 without")
    tls_certificate: Path | None = None
    tls_key: Path | None = None
    registry: Url = Field(DOCKER_HUB_URL, description="the registry relayed (default Docker Hub)")
    auth: Url = Field(DOCKER_HUB_AUTH_URL, description="the token service relayed as /token")
    resolver: str = Field("1.1.1.1 8.8.8.8", description="DNS used to follow blob redirects")
    upstream_ca: Path | None = Field(
        Path("/etc/ssl/certs/ca-certificates.crt"),
        description="CA bundle that verifies the relayed registry, token service and blob storage "
        "(null: no verification, warns)",
    )

    @model_validator(mode="after")
    def _tls_pair(self) -> NginxDeploy:
        if (self.tls_certificate is None) != (self.tls_key is None):
            raise FieldProblem(
                "tls_key" if self.tls_key is None else "tls_certificate",
                "tls_certificate and tls_key go together",
            )
        return self


class WorkerDeploy(Model):
    """Generate a Cloudflare Worker (ES module + wrangler.toml) for a ``cloudflare-worker``."""

    kind: Literal["cloudflare-worker"] = "cloudflare-worker"
    output: Path = Field(description="directory for worker.js and wrangler.toml")
    name: Name | None = Field(None, description="Worker name (default: the upstream's name)")
    registry: Url = Field(DOCKER_HUB_URL, description="the registry relayed (default Docker Hub)")
    auth: Url = Field(DOCKER_HUB_AUTH_URL, description="the token service relayed")
    allow: list[str] = Field(
        default_factory=list, description="image prefixes allowed; empty = all"
    )
    compatibility_date: str = Field("2025-01-01", pattern=r"^\d{4}-\d{2}-\d{2}$")


Deploy = Annotated[NginxDeploy | WorkerDeploy, Field(discriminator="kind")]


class Upstream(TlsOptions):
    """Where images really come from: a Worker, an Nginx proxy, a mirror, Docker Hub, a registry."""

    kind: UpstreamKind
    url: Url | None = Field(None, description="registry API root; default for docker-hub only")
    username: str | None = None
    password: Secret | None = None
    layout: Literal["docker-hub", "plain"] = Field(
        "docker-hub",
        description="docker-hub: official images live under library/; plain: names as given",
    )
    deploy: Deploy | None = Field(None, description="generate this upstream's proxy (self-hosted)")

    @model_validator(mode="before")
    @classmethod
    def _default_url(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("kind") == "docker-hub" and data.get("url") is None:
            return {**data, "url": DOCKER_HUB_URL}
        return data

    @model_validator(mode="after")
    def _check(self) -> Upstream:
        if self.url is None:
            raise FieldProblem("url", f"required for kind {self.kind}")
        if (self.username is None) != (self.password is None):
            missing = "password" if self.password is None else "username"
            raise FieldProblem(missing, "username and password go together")
        if self.deploy is not None:
            wanted = "nginx" if self.kind == "nginx-proxy" else "cloudflare-worker"
            if self.kind not in ("nginx-proxy", "cloudflare-worker") or self.deploy.kind != wanted:
                raise FieldProblem(
                    "deploy.kind",
                    f"{self.deploy.kind} does not fit an upstream of kind {self.kind}",
                )
        return self

    @property
    def endpoint(self) -> str:
        """The normalised registry API root (never None after validation)."""
        assert self.url is not None
        return self.url


class Cache(Model):
    """A pull-through cache of one registry, fed by upstreams in failover order."""

    mirrors: str = Field("docker.io", description="the registry whose images this cache serves")
    upstreams: list[Name] = Field(min_length=1, description="upstream names, in failover order")
    select: Literal["first-healthy", "fastest"] = "first-healthy"
    probe_image: str = Field(
        "library/busybox:latest",
        pattern=PROBE_IMAGE_PATTERN,
        description="image whose manifest the probe asks each upstream for",
    )

    @model_validator(mode="after")
    def _unique(self) -> Cache:
        seen: set[str] = set()
        for name in self.upstreams:
            if name in seen:
                raise FieldProblem("upstreams", f"upstream {name} is listed twice")
            seen.add(name)
        return self


class Target(TlsOptions):
    """Fields every target kind has."""

    caches: list[Name] | None = Field(None, description="caches to provision here (default: all)")


class ServerTarget(Target):
    url: Url
    username: str
    password: Secret = Field(description="the password the instance must end up with")
    timeout: Duration = Field(10.0, description="per-request timeout")


class RegistryTarget(Target):
    """CNCF Distribution: files only, one instance (address) per cache."""

    kind: Literal["registry"]
    output: Path = Field(description="directory; each cache gets <output>/<cache>/config.yml")
    listen: ListenAddress | dict[Name, ListenAddress] = Field(
        description="host:port, or a map cache -> host:port when the target has several caches"
    )
    storage: str = Field("/var/lib/registry", description="filesystem root inside the instance")
    image: str = Field("registry:2", description="image used in the generated compose file")
    ttl: Duration | None = Field(None, description="cache expiry (registry v3; 2.8 keeps 7 days)")
    http_secret: Secret | None = Field(None, description="default: random, kept across runs")
    secrets: Literal["env-file", "inline"] = Field(
        "env-file",
        description="env-file: upstream password in a 0600 registry.env, not in config.yml",
    )


class NexusBootstrap(Model):
    initial_password_file: Path | None = None
    initial_password: Secret | None = None
    accept_eula: bool = False
    wait: Duration = Field(
        120.0, description="how long to wait for a starting instance to become writable"
    )

    @model_validator(mode="after")
    def _one_source(self) -> NexusBootstrap:
        if self.initial_password_file is not None and self.initial_password is not None:
            raise FieldProblem(
                "initial_password", "give initial_password_file or initial_password, not both"
            )
        return self


class NexusTarget(ServerTarget):
    """Sonatype Nexus Repository 3 through its REST API."""

    kind: Literal["nexus"]
    anonymous_pull: bool = Field(
        False, description="DockerToken realm, anonymous read, no forced basic auth"
    )
    blob_store: Name | None = Field(
        None, description="file blob store to create and use (default: 'default')"
    )
    ports: dict[Name, Port] = Field(
        default_factory=dict, description="HTTP connector port per cache group (else path routing)"
    )
    path_routing: bool = Field(True, description="pathEnabled on groups (Nexus >= 3.83)")
    bootstrap: NexusBootstrap | None = None


class HarborBootstrap(Model):
    initial_password: Secret = Field(description="the admin password of a fresh install")
    wait: Duration = Field(300.0, description="how long to wait for /ping and /health to be ready")


class HarborTarget(ServerTarget):
    """Harbor v2 through its REST API v2.0."""

    kind: Literal["harbor"]
    public: bool = Field(False, description="proxy projects anyone may pull from")
    proxy_speed_kb: int | None = Field(
        None,
        ge=-1,
        le=2**31 - 1,
        description="upstream bandwidth limit in Kbps, -1 = unlimited (Harbor >= 2.12)",
    )
    max_upstream_conn: int | None = Field(
        None,
        ge=-1,
        le=2**31 - 1,
        description="upstream connections per artifact, -1 = unlimited (Harbor >= 2.15)",
    )
    bootstrap: HarborBootstrap | None = None

    @model_validator(mode="after")
    def _password_policy(self) -> HarborTarget:
        # Bootstrap sets this password on the instance and Harbor refuses a weak one (400) only
        # once the run has started, so refuse it here, before anything is sent. Harbor's own
        # check (handler/user.go) uses the ASCII classes [A-Z], [a-z], [0-9].
        if self.bootstrap is not None:
            value = self.password.get_secret_value()
            if not (
                8 <= len(value) <= 128
                and re.search("[A-Z]", value)
                and re.search("[a-z]", value)
                and re.search("[0-9]", value)
            ):
                raise FieldProblem(
                    "password",
                    "Harbor needs 8-128 characters with an upper-case "
                    "letter, a lower-case letter and a digit (bootstrap sets it)",
                )
        return self


AnyTarget = Annotated[RegistryTarget | NexusTarget | HarborTarget, Field(discriminator="kind")]


class Clients(Model):
    """Client-side mirror configs: the caches first, then the upstreams, in order."""

    output: Path
    formats: list[ClientFormat] = Field(default_factory=lambda: list(ALL_CLIENT_FORMATS))
    include_upstreams: bool = Field(True, description="list upstreams after the caches")
    trust_upstreams: bool = Field(
        True,
        description="upstreams may resolve tags (containerd 'resolve', podman "
        "pull-from-mirror all); false: digests only, as containerd advises "
        "for public mirrors",
    )
    dial_timeout: Duration = Field(
        3.0, description="containerd: connect timeout per host before the next one is tried"
    )
    addresses: dict[str, Url] = Field(
        default_factory=dict,
        description="client-facing URL of a cache, keyed '<target>' or '<target>/<cache>', when "
        "clients reach it by another address (a TLS front, a 0.0.0.0 listen)",
    )


class ProbeSettings(Model):
    enabled: bool = Field(True, description="probe upstreams before planning; false = listed order")
    timeout: Duration = Field(5.0, description="per-upstream probe timeout")


class Profile(Model):
    """The whole profile. ``version`` must be 1."""

    version: Literal[1]
    upstreams: dict[Name, Upstream] = Field(default_factory=dict)
    caches: dict[Name, Cache] = Field(default_factory=dict)
    targets: dict[Name, AnyTarget] = Field(default_factory=dict)
    clients: Clients | None = None
    probe: ProbeSettings = Field(default_factory=ProbeSettings)  # type: ignore[arg-type]

    @model_validator(mode="after")
    def _check_references(self) -> Profile:
        for cache_name, cache in self.caches.items():
            for upstream in cache.upstreams:
                if upstream not in self.upstreams:
                    raise _ref_error(
                        ("caches", cache_name, "upstreams"), "upstream", upstream, self.upstreams
                    )
        registry_addresses: dict[str, str] = {}
        for target_name, target in self.targets.items():
            if target_name in RESERVED_TARGET_NAMES:
                raise ReferenceProblem(
                    ("targets", target_name),
                    f"{target_name!r} is reserved for generated files; pick another name",
                )
            for listed in target.caches or ():
                if listed not in self.caches:
                    raise _ref_error(
                        ("targets", target_name, "caches"), "cache", listed, self.caches
                    )
            if isinstance(target, RegistryTarget):
                for served, address in self.registry_listen(target_name).items():
                    other = registry_addresses.setdefault(address, f"{target_name}/{served}")
                    if other != f"{target_name}/{served}":
                        raise ReferenceProblem(
                            ("targets", target_name, "listen"),
                            f"{address} is already used by {other}; "
                            "each Registry cache needs its own address",
                        )
            if isinstance(target, NexusTarget):
                for ported in target.ports:
                    if ported not in self.target_caches(target_name):
                        raise _ref_error(
                            ("targets", target_name, "ports"), "cache", ported, self.caches
                        )
        return self

    def target_caches(self, target: str) -> list[str]:
        """The caches a target provisions: its own list, or every cache in profile order."""
        listed = self.targets[target].caches
        return list(listed) if listed is not None else list(self.caches)

    def registry_listen(self, target: str) -> dict[str, str]:
        """Cache -> listen address of a Registry target (raises on a shared single address)."""
        spec = self.targets[target]
        assert isinstance(spec, RegistryTarget)
        caches = self.target_caches(target)
        if isinstance(spec.listen, str):
            if len(caches) > 1:
                raise ReferenceProblem(
                    ("targets", target, "listen"),
                    f"{len(caches)} caches cannot share {spec.listen}; "
                    "give a map cache -> host:port",
                )
            return {cache: spec.listen for cache in caches}
        missing = [c for c in caches if c not in spec.listen]
        if missing:
            raise ReferenceProblem(
                ("targets", target, "listen"), f"no address for cache {missing[0]}"
            )
        return {cache: spec.listen[cache] for cache in caches}


class FieldProblem(ValueError):
    """A model check that belongs to one field of the model (``field`` is relative to it)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = tuple(field.split("."))
        self.message = message


class ReferenceProblem(ValueError):
    """A cross-reference error with the profile path it belongs to (for file:line reporting)."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


def _ref_error(
    path: tuple[str | int, ...], what: str, name: str, known: dict[str, Any]
) -> ReferenceProblem:
    choices = ", ".join(sorted(known)) or "none defined"
    return ReferenceProblem(path, f"unknown {what} {name!r} (known: {choices})")
