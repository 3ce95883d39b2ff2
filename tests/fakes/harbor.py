"""A stateful fake Harbor v2.0 API (default: v2.15.2) on 127.0.0.1, for integration tests.

It behaves like a real Harbor as recorded in ``shared/reference/harbor.md`` (section numbers in
comments) and the official spec ``shared/specs/harbor-v2.0-swagger.yaml``; every request body is
checked against the spec and any deviation lands in :attr:`FakeHarbor.spec_violations`.

Request pipeline, in Harbor's middleware order:

1. request id: ``X-Request-Id`` echoed, or a fresh one (§1);
2. session: a ``sid`` cookie is set on every response whose request carries none (§0.7);
3. CSRF: a write carrying ``sid`` needs a valid ``X-Harbor-CSRF-Token``, else 403
   "CSRF token invalid" (§0.7, §1 CSRF);
4. security: Basic auth; bad or missing credentials make the request anonymous, never an error;
   a failed login locks that username and the failing request sleeps ``login_lock_seconds``
   (§1 Auth, H:src/core/auth/authenticator.go ``frozenTime``);
5. go-swagger routing and binding (404/405, 422 for parameter and body problems, §1);
6. the handler (``harbor_registries``, ``harbor_projects`` and the small ones here).

Usage::

    with FakeHarbor() as fake:
        requests.get(fake.api + "/users/current", auth=("admin", "Harbor12345"))

Run standalone for benchmarks: ``python -m tests.fakes.harbor --port 8080 [--latency 0.05]
[--fresh]``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import re
import threading
import time
import uuid
from collections.abc import Callable
from http.cookies import CookieError, SimpleCookie

from .base import FakeServer, Fault, FaultKind, Request, Response
from .harbor_common import (
    API_PREFIX,
    DEFAULT_VERSION,
    HarborError,
    error_response,
    forbidden,
    json_response,
    now_iso,
    password_problem,
)
from .harbor_projects import ProjectHandlers
from .harbor_state import Ctx, HarborState, User

Handler = Callable[[Ctx], Response]
HEALTH_COMPONENTS = ("core", "database", "jobservice", "portal", "redis", "registry",
                     "registryctl")

# (path pattern, {method: handler name}); the first matching pattern wins, so static paths come
# before parameterised ones, as in go-swagger's router.
ROUTES: list[tuple[re.Pattern[str], dict[str, str]]] = [
    (re.compile(p), m) for p, m in [
        (r"/ping", {"GET": "ping"}),
        (r"/health", {"GET": "health"}),
        (r"/systeminfo", {"GET": "systeminfo"}),
        (r"/users/current", {"GET": "current_user"}),
        (r"/users/(?P<user_id>[^/]+)/password", {"PUT": "update_password"}),
        (r"/registries", {"GET": "list_registries", "POST": "create_registry"}),
        (r"/registries/ping", {"POST": "ping_registry"}),
        (r"/registries/(?P<id>[^/]+)",
         {"GET": "get_registry", "PUT": "update_registry", "DELETE": "delete_registry"}),
        (r"/registries/(?P<id>[^/]+)/info", {"GET": "registry_info"}),
        (r"/replication/adapters", {"GET": "list_adapters"}),
        (r"/projects", {"GET": "list_projects", "HEAD": "head_project", "POST": "create_project"}),
        (r"/projects/(?P<project>[^/]+)",
         {"GET": "get_project", "PUT": "update_project", "DELETE": "delete_project"}),
        (r"/projects/(?P<project>[^/]+)/_deletable", {"GET": "project_deletable"}),
        (r"/projects/(?P<project>[^/]+)/summary", {"GET": "project_summary"}),
    ]
]


class FakeHarbor(ProjectHandlers, FakeServer):
    """The fake Harbor server. See :class:`tests.fakes.harbor_state.HarborState` for the state.

    Constructor (all keyword-only):

    - ``version``: ``harbor_version`` reported by /systeminfo; gates §9 features;
    - ``initial_password``: the install-time admin password; ``admin_password``: the current one
      (None = still initial, i.e. a fresh instance; anything else = already rotated);
    - ``login_lock_seconds``: Harbor's 1.5 s lock and sleep after a failed login (0 disables);
    - ``with_library``: plant the default public ``library`` project (id 1), as a real install;
    - ``real_ping``: really ``GET <url>/v2/`` to decide endpoint health (off: all URLs are
      healthy unless :meth:`mark_down`); ``ping_timeout`` bounds it;
    - ``extra_fields``: add unknown fields to GET bodies, as a newer Harbor might;
    - ``url_change_clears_secret``: a registry URL change without ``access_secret`` clears the
      stored secret (recorded behaviour, default True);
    - ``latency``, ``hang_seconds``: see :class:`tests.fakes.base.FakeServer`.
    """

    def __init__(
        self,
        *,
        version: str = DEFAULT_VERSION,
        initial_password: str = "Harbor12345",
        admin_password: str | None = None,
        latency: float = 0.0,
        hang_seconds: float = 5.0,
        login_lock_seconds: float = 1.5,
        with_library: bool = True,
        real_ping: bool = False,
        ping_timeout: float = 2.0,
        extra_fields: bool = True,
        url_change_clears_secret: bool = True,
    ) -> None:
        FakeServer.__init__(self, latency=latency, hang_seconds=hang_seconds)
        HarborState.__init__(
            self, version=version, initial_password=initial_password,
            admin_password=admin_password, with_library=with_library, real_ping=real_ping,
            ping_timeout=ping_timeout, extra_fields=extra_fields)
        self.login_lock_seconds = login_lock_seconds
        self.url_change_clears_secret = url_change_clears_secret
        self.unhealthy_components: set[str] = set()
        self.csrf_tokens: set[str] = set()
        self._locked_until: dict[str, float] = {}

    # -- lifecycle (typed for chaining) -------------------------------------------------------
    def start(self, port: int = 0) -> FakeHarbor:
        """Bind 127.0.0.1:``port`` (0 = any free port) and serve from a thread."""
        FakeServer.start(self, port)
        return self

    def __enter__(self) -> FakeHarbor:
        return self.start()

    @property
    def api(self) -> str:
        """Base URL of the API, e.g. ``http://127.0.0.1:PORT/api/v2.0``."""
        return self.url + API_PREFIX

    def fail_ping(self, times: int, kind: FaultKind = "502-html", all_paths: bool = False) -> None:
        """Make the next ``times`` requests to /ping (or to the whole API) fail, as while
        Harbor starts up behind its nginx."""
        prefix = API_PREFIX + ("/" if all_paths else "/ping")
        self.inject(Fault(kind, path_prefix=prefix, times=times))

    # -- pipeline -----------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        """Run the middleware chain and the handler; see the module docstring."""
        request_id = request.headers.get("x-request-id") or str(uuid.uuid4())
        with self.lock:
            cookies = _cookies(request)
            headers: dict[str, str] = {"X-Request-Id": request_id}
            carry_session = "sid" in cookies  # any sid counts: no session store needed
            if not carry_session:
                headers["Set-Cookie"] = f"sid={self.token()}; Path=/; HttpOnly"
            early = self._csrf(request, carry_session, headers)
            user, failed = (None, False) if early else self._authenticate(request)
        if failed and self.login_lock_seconds > 0:
            time.sleep(self.login_lock_seconds)  # outside the lock: other requests go on
        with self.lock:
            resp = early or self._dispatch(request, user)
        for key, value in headers.items():
            resp.headers.setdefault(key, value)
        return resp

    def _csrf(self, request: Request, carry_session: bool,
              headers: dict[str, str]) -> Response | None:
        """gorilla/csrf, skipped for /api/ without a ``sid`` cookie (§0.7)."""
        if not carry_session:
            return None
        token = self.token()
        self.csrf_tokens.add(token)
        headers["X-Harbor-CSRF-Token"] = token
        if request.method in ("GET", "HEAD", "OPTIONS", "TRACE"):
            return None
        if request.headers.get("x-harbor-csrf-token") in self.csrf_tokens:
            return None
        return error_response(forbidden("CSRF token invalid"))

    def _authenticate(self, request: Request) -> tuple[User | None, bool]:
        """Basic auth -> (user, login_failed). Never an error: failures become anonymous."""
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("basic "):
            return None, False
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None, False
        username, _, password = decoded.partition(":")
        now = time.monotonic()
        if self._locked_until.get(username, 0.0) > now:
            return None, False  # locked: the login fails without a new lock
        user = self.users.get(username)
        if user is not None and user["password"] == password:
            return user, False
        self._locked_until[username] = now + self.login_lock_seconds
        return None, True

    def _dispatch(self, request: Request, user: User | None) -> Response:
        if not request.path.startswith(API_PREFIX + "/"):
            return Response.text("404 page not found\n", 404)
        sub = request.path[len(API_PREFIX):]
        for pattern, methods in ROUTES:
            match = pattern.fullmatch(sub)
            if match is None:
                continue
            name = methods.get(request.method)
            try:
                if name is None:
                    allowed = ",".join(sorted(methods))
                    raise HarborError(405, f"method {request.method} is not allowed, "
                                           f"but [{allowed}] are")
                handler: Handler = getattr(self, name)
                return handler(Ctx(request, user, match.groupdict()))
            except HarborError as err:
                if err.status >= 500:
                    self.server_errors.append(f"{request.method} {request.path}: {err.message}")
                return error_response(err)
        return error_response(HarborError(404, f"path {request.path} was not found"))

    # -- liveness and version (§2) ------------------------------------------------------------
    def ping(self, ctx: Ctx) -> Response:
        """GET /ping -> text/plain ``Pong``; no auth."""
        return Response.text("Pong")

    def health(self, ctx: Ctx) -> Response:
        """GET /health: always 200; the body says which components are unhealthy."""
        components = []
        for name in HEALTH_COMPONENTS:
            item = {"name": name, "status": "healthy"}
            if name in self.unhealthy_components:
                item = {"name": name, "status": "unhealthy", "error": f"{name} is unreachable"}
            components.append(item)
        status = "unhealthy" if self.unhealthy_components else "healthy"
        return json_response({"status": status, "components": components})

    def systeminfo(self, ctx: Ctx) -> Response:
        """GET /systeminfo: ``harbor_version`` and the protected fields only when
        authenticated (§2)."""
        info: dict[str, object] = {
            "auth_mode": "db_auth", "primary_auth_mode": False, "self_registration": False,
            "banner_message": "", "current_time": now_iso(), "oidc_provider_name": "",
        }
        if ctx.user is not None:
            host = self.url.split("://", 1)[1]
            info.update({
                "harbor_version": self.version_string, "external_url": self.url,
                "registry_url": host, "has_ca_root": False, "read_only": False,
                "project_creation_restriction": self.project_creation_restriction,
                "registry_storage_provider_name": "filesystem", "notification_enable": True,
            })
        return json_response(info)

    # -- users (§6) ---------------------------------------------------------------------------
    def _user_view(self, user: User) -> dict[str, object]:
        out: dict[str, object] = {k: user[k] for k in (
            "user_id", "username", "email", "realname", "comment", "sysadmin_flag",
            "creation_time", "update_time")}
        out["admin_role_in_auth"] = False
        if self.extra_fields:
            out["x_fake_extra"] = "unknown field"
        return out

    def current_user(self, ctx: Ctx) -> Response:
        """GET /users/current: 401 when anonymous (how to verify credentials, §1)."""
        return json_response(self._user_view(self.require_authenticated(ctx)))

    def update_password(self, ctx: Ctx) -> Response:
        """PUT /users/{id}/password (H:handler/user.go ``UpdateUserPassword``).

        ``old_password`` is checked when callers change their own password (403 "Current
        password is incorrect"); the new one must pass the policy (400) and differ from the
        caller's current password (400).
        """
        raw_id = ctx.params["user_id"]
        if not raw_id.lstrip("-").isdigit():
            raise HarborError(422, f"validation failure list:\nuser_id in path must be of type "
                                   f"int32: {raw_id!r}")
        uid = int(raw_id)
        body = self.bind(ctx, "PasswordReq", "password")
        caller = self.require_authenticated(ctx)
        if not (caller["sysadmin_flag"] or caller["user_id"] == uid):
            raise forbidden(f"User with ID {uid} can't be updated")
        if caller["user_id"] == uid and body.get("old_password", "") != caller["password"]:
            raise forbidden("Current password is incorrect")
        new = body.get("new_password", "")
        problem = password_problem(new)
        if problem:
            raise HarborError(400, problem)
        if new == caller["password"]:
            raise HarborError(400, "New password is identical to old password")
        target = next((u for u in self.users.values() if u["user_id"] == uid), None)
        if target is None:
            raise HarborError(404, f"user {uid} not found")
        target["password"] = new
        target["update_time"] = now_iso()
        return Response(200, b"", {})


def _cookies(request: Request) -> dict[str, str]:
    """The request's cookies; a malformed header counts as none."""
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(request.headers.get("cookie", ""))
    except CookieError:
        return {}
    return {key: morsel.value for key, morsel in jar.items()}


def main(argv: list[str] | None = None) -> None:
    """``python -m tests.fakes.harbor``: serve on 127.0.0.1 until interrupted."""
    parser = argparse.ArgumentParser(description="Fake Harbor API on 127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="port (0 = any free one)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added per request")
    parser.add_argument("--fresh", action="store_true",
                        help="fresh install: admin still has the initial password Harbor12345")
    parser.add_argument("--admin-password", default="Bench12345",
                        help="current admin password when not --fresh (default Bench12345)")
    parser.add_argument("--version", default=DEFAULT_VERSION, help="reported harbor_version")
    parser.add_argument("--login-lock", type=float, default=1.5, help="failed-login lock seconds")
    args = parser.parse_args(argv)
    fake = FakeHarbor(version=args.version, latency=args.latency,
                      admin_password=None if args.fresh else args.admin_password,
                      login_lock_seconds=args.login_lock)
    fake.start(args.port)
    print(f"fake Harbor {args.version} at {fake.url} (admin password: {fake.admin_password})",
          flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
