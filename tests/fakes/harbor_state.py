"""State, security context and planting helpers shared by the fake Harbor's handlers.

:class:`HarborState` owns everything a test may inspect or plant (registries, projects, users,
retention policies, the health of upstream URLs, the recorded spec violations); the handler
mixins in ``harbor_registries`` / ``harbor_projects`` and :class:`tests.fakes.harbor.FakeHarbor`
build on it. Section numbers refer to ``shared/reference/harbor.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import requests

from .base import Request
from .harbor_bind import bind_body
from .harbor_common import (
    ADAPTER_TYPES,
    DEFAULT_VERSION,
    HarborError,
    forbidden,
    has_feature,
    new_token,
    normalize_url,
    now_iso,
    parse_version,
    unauthorized,
)

User = dict[str, Any]


@dataclass
class Ctx:
    """One request after the middleware ran: who is calling and the path parameters."""

    request: Request
    user: User | None  # None = anonymous (bad credentials fall back to it, §1)
    params: dict[str, str] = field(default_factory=dict)

    @property
    def is_admin(self) -> bool:
        return bool(self.user and self.user["sysadmin_flag"])


class HarborState:
    """Server-side state of the fake Harbor and the helpers to plant or inspect it.

    Inspectable attributes (tests may read and mutate them between requests):

    - ``registries``: id -> stored endpoint incl. the real ``credential.access_secret``;
    - ``projects``: name -> stored project (``repo_count`` may be set to test the 412);
    - ``users``: username -> user (``password``, ``user_id``, ``sysadmin_flag``);
    - ``retentions``: id -> retention policy auto-created for proxy projects (§4);
    - ``spec_violations``: every way a request broke the spec (should stay empty);
    - ``ignored_fields``: body properties the spec lacks, which Harbor silently drops;
    - ``server_errors``: the real message behind each generic 500 (§1).
    """

    def __init__(
        self,
        *,
        version: str = DEFAULT_VERSION,
        initial_password: str = "Harbor12345",
        admin_password: str | None = None,
        with_library: bool = True,
        real_ping: bool = False,
        ping_timeout: float = 2.0,
        extra_fields: bool = True,
    ) -> None:
        self.version_string = version
        self.version = parse_version(version)
        self.initial_password = initial_password
        self.real_ping = real_ping
        self.ping_timeout = ping_timeout
        self.extra_fields = extra_fields
        self.registries: dict[int, dict[str, Any]] = {}
        self.projects: dict[str, dict[str, Any]] = {}
        self.users: dict[str, User] = {}
        self.retentions: dict[int, dict[str, Any]] = {}
        self.spec_violations: list[str] = []
        self.ignored_fields: list[str] = []
        self.server_errors: list[str] = []
        self.down_urls: set[str] = set()
        self.project_creation_restriction = "everyone"
        self._next_registry_id = 1
        self._next_project_id = 1
        self._next_user_id = 1
        self._next_retention_id = 1
        self.add_user("admin", admin_password or initial_password, admin=True,
                      email="admin@example.com", realname="system admin")
        if with_library:  # every fresh Harbor has the public "library" project (id 1)
            self.add_project("library", public=True)

    # -- admin password (§6) -----------------------------------------------------------------
    @property
    def admin_password(self) -> str:
        """The admin's current password."""
        return str(self.users["admin"]["password"])

    @admin_password.setter
    def admin_password(self, value: str) -> None:
        self.users["admin"]["password"] = value

    @property
    def is_fresh(self) -> bool:
        """True while the admin still has the initial (install-time) password."""
        return self.admin_password == self.initial_password

    def has(self, feature: str) -> bool:
        """Whether the configured version has ``feature`` (§9 matrix)."""
        return has_feature(self.version, feature)

    # -- upstream health (§0.3, §3) -----------------------------------------------------------
    def mark_down(self, url: str) -> None:
        """Make Harbor's ping of ``url`` (normalised like Harbor does) fail."""
        self.down_urls.add(normalize_url(url))

    def mark_up(self, url: str) -> None:
        """Undo :meth:`mark_down`."""
        self.down_urls.discard(normalize_url(url))

    def is_healthy(self, registry_type: str, url: str) -> bool:
        """Harbor's ``controller.IsHealthy``: unknown type -> 500 (§3), else ping the upstream.

        Healthy unless marked down; with ``real_ping`` also ``GET <url>/v2/`` must answer 200,
        401 or 403 (the native adapter's ``PingSimple`` view, §3 "Health check").
        """
        if registry_type not in ADAPTER_TYPES:
            raise HarborError(500, f"adapter factory for {registry_type} not found")
        if normalize_url(url) in self.down_urls:
            return False
        if not self.real_ping:
            return True
        try:
            resp = requests.get(url.rstrip("/") + "/v2/", timeout=self.ping_timeout, verify=False)
        except requests.RequestException:
            return False
        return resp.status_code in (200, 401, 403)

    def run_health_check(self) -> None:
        """One round of Harbor's 5-minute checker: refresh every endpoint's ``status`` (§0.6)."""
        for reg in self.registries.values():
            try:
                healthy = self.is_healthy(reg["type"], reg["url"])
            except HarborError:
                continue
            reg["status"] = "healthy" if healthy else "unhealthy"

    # -- security helpers ---------------------------------------------------------------------
    @staticmethod
    def require_authenticated(ctx: Ctx) -> User:
        """401 ``unauthorized`` for anonymous callers."""
        if ctx.user is None:
            raise unauthorized()
        return ctx.user

    @staticmethod
    def require_admin(ctx: Ctx) -> User:
        """``RequireSystemAccess``: 401 when anonymous, 403 ``forbidden`` when not an admin."""
        user = HarborState.require_authenticated(ctx)
        if not user["sysadmin_flag"]:
            raise forbidden()
        return user

    def bind(self, ctx: Ctx, definition: str, param: str) -> dict[str, Any]:
        """Bind and spec-check the body; record violations; raise the 422 Harbor would send."""
        bound = bind_body(ctx.request, definition, param)
        self.spec_violations.extend(f"{ctx.request.method} {ctx.request.path}: {v}"
                                    for v in bound.violations)
        self.ignored_fields.extend(f"{ctx.request.method} {ctx.request.path}: {f}"
                                   for f in bound.ignored)
        if bound.error is not None:
            raise bound.error
        body: dict[str, Any] = bound.body if isinstance(bound.body, dict) else {}
        return body

    # -- planting -----------------------------------------------------------------------------
    def add_user(self, username: str, password: str, *, admin: bool = False,
                 email: str | None = None, realname: str | None = None) -> int:
        """Plant a local (db_auth) user; returns its ``user_id``."""
        uid = self._next_user_id
        self._next_user_id += 1
        stamp = now_iso()
        self.users[username] = {
            "user_id": uid, "username": username, "password": password, "sysadmin_flag": admin,
            "email": email or f"{username}@example.com", "realname": realname or username,
            "comment": "", "creation_time": stamp, "update_time": stamp,
        }
        return uid

    def add_registry(self, name: str, url: str, *, type: str = "docker-registry",  # noqa: A002
                     access_key: str = "", access_secret: str = "", credential_type: str = "basic",
                     insecure: bool = False, description: str = "", status: str = "healthy",
                     ca_certificate: str | None = None) -> int:
        """Plant an endpoint without HTTP or health check; returns its id."""
        rid = self._next_registry_id
        self._next_registry_id += 1
        stamp = now_iso()
        self.registries[rid] = {
            "id": rid, "name": name, "type": type, "url": normalize_url(url),
            "insecure": insecure, "description": description, "status": status,
            "credential": self.make_credential(credential_type, access_key, access_secret),
            "ca_certificate": ca_certificate, "creation_time": stamp, "update_time": stamp,
        }
        return rid

    @staticmethod
    def make_credential(cred_type: str, access_key: str, access_secret: str) -> dict[str, str]:
        """H:src/pkg/reg/manager.go ``toDaoModel``: no access key means no credential at all."""
        if not access_key:
            return {}
        return {"type": cred_type or "basic", "access_key": access_key,
                "access_secret": access_secret}

    def add_project(self, name: str, *, registry_id: int | None = None, public: bool = False,
                    metadata: dict[str, str] | None = None, repo_count: int = 0,
                    owner: str = "admin") -> dict[str, Any]:
        """Plant a project (proxy when ``registry_id`` is set, with its retention); returns it."""
        pid = self._next_project_id
        self._next_project_id += 1
        stamp = now_iso()
        meta = {"public": "true" if public else "false"}
        meta.update(metadata or {})
        owner_user = self.users[owner]
        project: dict[str, Any] = {
            "project_id": pid, "name": name, "owner_id": owner_user["user_id"],
            "owner_name": owner, "registry_id": registry_id, "metadata": meta,
            "repo_count": repo_count, "storage_limit": -1,
            "cve_allowlist": {"id": pid, "project_id": pid, "items": [],
                              "creation_time": "0001-01-01T00:00:00.000Z",
                              "update_time": "0001-01-01T00:00:00.000Z"},
            "creation_time": stamp, "update_time": stamp,
        }
        if registry_id is not None and "retention_id" not in meta:
            meta["retention_id"] = str(self.create_retention(pid))
        self.projects[name] = project
        return project

    def create_retention(self, project_id: int, days: int = 7) -> int:
        """§4: the policy Harbor creates for every proxy project ("pulled within N days")."""
        rid = self._next_retention_id
        self._next_retention_id += 1
        self.retentions[rid] = {
            "id": rid, "algorithm": "or",
            "rules": [{
                "id": 1, "priority": 1, "disabled": False, "action": "retain",
                "template": "nDaysSinceLastPull", "params": {"nDaysSinceLastPull": days},
                "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "**"}],
                "scope_selectors": {"repository": [
                    {"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]},
            }],
            "trigger": {"kind": "Schedule", "settings": {"cron": "0 0 0 * * *"}},
            "scope": {"level": "project", "ref": project_id},
        }
        return rid

    def find_project(self, key: str | int) -> dict[str, Any] | None:
        """A project by name (str) or id (int)."""
        if isinstance(key, int):
            return next((p for p in self.projects.values() if p["project_id"] == key), None)
        return self.projects.get(key)

    def new_registry_id(self) -> int:
        """Reserve the next registry id."""
        rid = self._next_registry_id
        self._next_registry_id += 1
        return rid

    @staticmethod
    def token() -> str:
        """A random token (sid cookies, CSRF tokens, request ids)."""
        return new_token()
