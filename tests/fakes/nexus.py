"""A stateful fake Sonatype Nexus Repository 3 (3.86.2 Community Edition) on 127.0.0.1.

It serves the REST API under ``/service/rest`` the way a real Nexus does as recorded in
``shared/reference/nexus.md`` (cited as §N below) and the official spec
``shared/specs/nexus-swagger.json``. Repository and blob-store rules live in
:mod:`tests.fakes.nexus_repos`, body validation and error shapes in :mod:`tests.fakes.nexus_wire`.

Every JSON request body is validated against the spec schema of its operation. A body that
breaks it is answered 400 (a ValidationErrorXO list) and recorded in
:attr:`NexusFake.spec_violations`, so a test can assert the client only ever sent spec-valid
bodies. Keys the spec does not know are recorded in :attr:`NexusFake.unknown_fields` (Nexus
ignores them silently).

Run standalone: ``python -m tests.fakes.nexus --port 8081 [--latency 0.05] [--fresh]``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import re
import signal
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from tests.fakes.base import FakeServer, Request, Response
from tests.fakes.nexus_repos import RepoRecord, default_repositories
from tests.fakes.nexus_repos_api import RepositoryEndpoints
from tests.fakes.nexus_wire import (
    API_PREFIX,
    Call,
    body_errors,
    definition_name,
    empty,
    json_response,
    media_type,
    message_error,
    unauthorized,
    unknown_fields,
    validation_error,
)

# §2 step 3; the spec's own example, byte for byte (typographic quotes U+2018/U+2019).
EULA_DISCLAIMER = (
    "Use of Sonatype Nexus Repository - Community Edition is governed by the End User License "
    "Agreement at https://links.sonatype.com/products/nxrm/ce-eula. By returning the value from "
    "\u2018accepted:false\u2019 to \u2018accepted:true\u2019, you acknowledge that you have read "
    "and "
    "agree to the End User License Agreement at https://links.sonatype.com/products/nxrm/ce-eula."
)
EULA_GATE_MESSAGE = (
    "You must accept the End User License Agreement (EULA) through the onboarding wizard or REST "
    "API before proceeding"
)
# §2 step 4. NexusAuthorizingRealm is listed so that the recorded read-modify-write recipe works
# against the recorded fresh list; a live 3.96.1 hides it (pass available_realms to model that).
AVAILABLE_REALMS: tuple[tuple[str, str], ...] = (
    ("ConanToken", "Conan Bearer Token Realm"),
    ("DefaultRole", "Default Role Realm"),
    ("DockerToken", "Docker Bearer Token Realm"),
    ("LdapRealm", "LDAP Realm"),
    ("NexusAuthenticatingRealm", "Local Authenticating Realm"),
    ("NexusAuthorizingRealm", "Local Authorizing Realm"),
    ("NpmToken", "npm Bearer Token Realm"),
    ("NuGetApiKey", "NuGet API-Key Realm"),
    ("rutauth-realm", "Rut Auth Realm"),
)
INITIAL_REALMS: tuple[str, ...] = ("NexusAuthenticatingRealm", "NexusAuthorizingRealm")

Auth = Literal["none", "browse", "admin"]
Consumes = Literal["json", "text"] | None


@dataclass(frozen=True)
class Route:
    """One operation: ``template`` is the spec path (``{{x}}`` = a literal spec parameter)."""

    method: str
    pattern: re.Pattern[str]
    template: str
    handler: str
    auth: Auth = "admin"
    consumes: Consumes = None


_PARAM_NAMES = {"repositoryName": "name"}  # handlers read params["name"] for either spelling


def _route(
    method: str, template: str, handler: str, auth: Auth = "admin", consumes: Consumes = None
) -> Route:
    """A route whose regex is derived from its spec template (``{{p}}`` -> one path segment)."""
    regex = template.replace("{fmt}/{type}", r"(?P<fmt>docker|maven)/(?P<type>proxy|hosted|group)")
    regex = re.sub(r"\{\{(\w+)\}\}", lambda m: f"(?P<{_PARAM_NAMES.get(m[1], m[1])}>[^/]+)", regex)
    return Route(method, re.compile(f"^{regex}$"), template, handler, auth, consumes)


_REPO = "/v1/repositories/{{repositoryName}}"
_FORMAT_REPO = "/v1/repositories/{fmt}/{type}/{{repositoryName}}"
_ROWS: tuple[tuple[str, str, str, Auth, Consumes], ...] = (
    ("GET", "/v1/status", "status", "none", None),
    ("GET", "/v1/status/writable", "status_writable", "none", None),
    ("GET", "/v1/system/eula", "get_eula", "admin", None),
    ("POST", "/v1/system/eula", "post_eula", "admin", "json"),
    ("GET", "/v1/security/realms/available", "realms_available", "admin", None),
    ("GET", "/v1/security/realms/active", "realms_active", "admin", None),
    ("PUT", "/v1/security/realms/active", "set_realms", "admin", "json"),
    ("GET", "/v1/security/anonymous", "get_anonymous", "admin", None),
    ("PUT", "/v1/security/anonymous", "set_anonymous", "admin", "json"),
    ("PUT", "/v1/security/users/{{userId}}/change-password", "change_password", "admin", "text"),
    ("GET", "/v1/repositories", "list_repositories", "browse", None),
    ("GET", "/v1/repositorySettings", "repository_settings", "admin", None),
    ("GET", _REPO, "get_repository", "browse", None),
    ("DELETE", _REPO, "delete_repository", "admin", None),
    ("POST", _REPO + "/invalidate-cache", "invalidate_cache", "admin", None),
    ("POST", "/v1/repositories/{fmt}/{type}", "create_repository", "admin", "json"),
    ("GET", _FORMAT_REPO, "get_format_repository", "admin", None),
    ("PUT", _FORMAT_REPO, "update_repository", "admin", "json"),
    ("GET", "/v1/blobstores", "list_blobstores", "admin", None),
    ("POST", "/v1/blobstores/file", "create_file_blobstore", "admin", "json"),
    ("GET", "/v1/blobstores/file/{{name}}", "get_file_blobstore", "admin", None),
    ("PUT", "/v1/blobstores/file/{{name}}", "update_file_blobstore", "admin", "json"),
    ("DELETE", "/v1/blobstores/{{name}}", "delete_blobstore", "admin", None),
)
ROUTES: tuple[Route, ...] = tuple(_route(*row) for row in _ROWS)
"""Every operation the fake serves; each ``template`` is a path of the spec (tested)."""


class NexusFake(RepositoryEndpoints, FakeServer):
    """Fake Nexus 3.86.2 CE. Starts "fresh" unless ``bootstrapped=True``.

    Fresh: the admin password is :attr:`initial_password` (a random UUID, or ``initial_password``
    when given, which like ``NEXUS_SECURITY_INITIAL_PASSWORD`` writes no file); it is written to
    ``password_file`` when that is set (like ``/nexus-data/admin.password``) and the file is
    deleted when the admin password is changed (§2 step 2). The EULA is not accepted.
    Bootstrapped: the admin password is ``admin_password`` and the EULA is accepted.

    ``eula_endpoint=False`` models a version before 3.77: ``/v1/system/eula`` is 404 and nothing is
    gated. ``duplicate_error`` picks the 400 body of a duplicate create ("list" or "string", §4).
    ``reject_spec_violations=False`` still records violations but lets the request through.
    """

    def __init__(
        self,
        *,
        bootstrapped: bool = False,
        admin_password: str = "admin123",
        initial_password: str | None = None,
        password_file: str | Path | None = None,
        eula_endpoint: bool = True,
        anonymous_enabled: bool = False,
        active_realms: list[str] | None = None,
        available_realms: list[tuple[str, str]] | None = None,
        with_default_repositories: bool = True,
        duplicate_error: Literal["list", "string"] = "list",
        reject_spec_violations: bool = True,
        extra_fields: bool = True,
        latency: float = 0.0,
        hang_seconds: float = 5.0,
    ) -> None:
        super().__init__(latency=latency, hang_seconds=hang_seconds)
        self.options: dict[str, Any] = {
            "bootstrapped": bootstrapped,
            "admin_password": admin_password,
            "initial_password": initial_password,
            "password_file": password_file,
            "eula_endpoint": eula_endpoint,
            "anonymous_enabled": anonymous_enabled,
            "active_realms": active_realms,
            "available_realms": available_realms,
            "with_default_repositories": with_default_repositories,
            "duplicate_error": duplicate_error,
            "reject_spec_violations": reject_spec_violations,
            "extra_fields": extra_fields,
            "latency": latency,
        }
        self.reset()

    def reset(self, **options: Any) -> NexusFake:
        """Return to the initial state, as if just constructed; a running server keeps its port.

        ``options`` (constructor keywords) replace those given before and stay in force for later
        resets. Clears the request log, pending faults, spec violations and unknown fields, so one
        server can serve a whole test module.
        """
        unknown = set(options) - set(self.options)
        if unknown:
            raise TypeError(f"unknown options: {sorted(unknown)}")
        with self.lock:
            self.options.update(options)
            self._init_state(**self.options)
            self.requests.clear()
            self.faults.clear()
        return self

    def _init_state(
        self,
        *,
        bootstrapped: bool,
        admin_password: str,
        initial_password: str | None,
        password_file: str | Path | None,
        eula_endpoint: bool,
        anonymous_enabled: bool,
        active_realms: list[str] | None,
        available_realms: list[tuple[str, str]] | None,
        with_default_repositories: bool,
        duplicate_error: Literal["list", "string"],
        reject_spec_violations: bool,
        extra_fields: bool,
        latency: float,
    ) -> None:
        self.latency = latency
        self.password_file: Path | None = Path(password_file) if password_file else None
        self.initial_password: str | None = None
        if bootstrapped:
            password = admin_password
        else:
            password = initial_password or str(uuid.uuid4())
            self.initial_password = password
            if self.password_file is not None and initial_password is None:
                self.password_file.parent.mkdir(parents=True, exist_ok=True)
                self.password_file.write_text(password, encoding="utf-8")
        self.users: dict[str, str | None] = {"admin": password, "anonymous": None}
        self.eula_endpoint = eula_endpoint
        self.eula_accepted = bootstrapped
        self.available_realms: list[tuple[str, str]] = list(available_realms or AVAILABLE_REALMS)
        self.active_realms: list[str] = list(active_realms or INITIAL_REALMS)
        # §2 step 5: defaults anonymous / NexusAuthorizingRealm; off, as a live 3.96.1 starts.
        self.anonymous: dict[str, Any] = {
            "enabled": anonymous_enabled,
            "userId": "anonymous",
            "realmName": "NexusAuthorizingRealm",
        }
        self.repos: dict[str, RepoRecord] = {}
        if with_default_repositories:
            self.repos = {r.name: r for r in default_repositories()}
        self.blobstores: dict[str, dict[str, Any]] = {
            "default": {"path": "default", "softQuota": None}
        }
        self.cleanup_policies: set[str] = set()
        self.duplicate_error = duplicate_error
        self.reject_spec_violations = reject_spec_violations
        self.extra_fields = extra_fields
        self.spec_violations: list[str] = []
        self.unknown_fields: list[str] = []
        self.starting_remaining = 0
        self.frozen = False

    # -- state helpers for tests --------------------------------------------------------------
    @property
    def admin_password(self) -> str:
        """The admin password the server accepts right now."""
        return self.users["admin"] or ""

    @admin_password.setter
    def admin_password(self, value: str) -> None:
        self.users["admin"] = value

    def base_url(self) -> str:
        """Where the server listens, as used in repository ``url`` fields."""
        return self.url if self._httpd is not None else "http://127.0.0.1:8081"

    def add_repository(
        self, body: dict[str, Any], *, fmt: str = "docker", type: str = "proxy"
    ) -> RepoRecord:
        """Plant a repository without HTTP and unvalidated; bodies from ``nexus_repos.*_body``."""
        with self.lock:
            record = RepoRecord(body["name"], fmt, type, json.loads(json.dumps(body)))
            self.repos[record.name] = record
            return record

    def add_blobstore(self, name: str, path: str | None = None) -> None:
        """Plant a file blob store without HTTP."""
        with self.lock:
            self.blobstores[name] = {"path": path or name, "softQuota": None}

    def set_starting(self, requests: int) -> None:
        """Answer the next ``requests`` requests, on any path, 503 as a starting Nexus does."""
        with self.lock:
            self.starting_remaining = requests

    def write_count(self) -> int:
        """How many POST/PUT/DELETE/PATCH requests the server has received."""
        return len(self.writes())

    # -- dispatch -----------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        with self.lock:
            if self.starting_remaining > 0:
                self.starting_remaining -= 1
                return Response.text(
                    "<html><body><h2>HTTP ERROR 503 Service Unavailable</h2></body></html>",
                    503,
                    "text/html",
                )
            if request.path.startswith("/repository/"):
                return self._content(request)
            if not request.path.startswith(API_PREFIX + "/"):
                return Response.text("Not Found", 404)
            return self._dispatch(request, request.path[len(API_PREFIX) :])

    def _dispatch(self, request: Request, path: str) -> Response:
        route: Route | None = None
        params: dict[str, str] = {}
        path_known = False
        for candidate in ROUTES:
            match = candidate.pattern.match(path)
            if match is None:
                continue
            path_known = True
            if candidate.method == request.method:
                route, params = candidate, match.groupdict()
                break
        if route is None:
            return (
                Response.text("Method Not Allowed", 405)
                if path_known
                else Response.text("Not Found", 404)
            )
        if route.handler in ("get_eula", "post_eula") and not self.eula_endpoint:
            return Response.text("Not Found", 404)  # before 3.77 (§2 step 3)
        credentials_ok, user = self._authenticate(request)
        if route.auth != "none" and not credentials_ok:
            return unauthorized()
        if route.auth == "admin" and user is None:
            return unauthorized()
        body: Any = None
        if route.consumes == "text":
            if media_type(request.headers.get("content-type")) != "text/plain":
                return empty(415)  # §4: 415 on a wrong Content-Type; change-password is text/plain
            body = request.body.decode("utf-8", errors="replace")
        elif route.consumes == "json":
            parsed = self._json_body(request, route.template.format(**params))
            if isinstance(parsed, Response):
                return parsed
            body = parsed
        handler: Callable[[Call], Response] = getattr(self, route.handler)
        try:
            return handler(Call(request, params, body, user))
        except (KeyError, TypeError, AttributeError) as exc:
            # Only reachable with reject_spec_violations=False: Nexus's bean validation would
            # have refused such a body, so answer the same way instead of crashing.
            return validation_error(("*", f"Invalid request body: {exc!r}"))

    def _authenticate(self, request: Request) -> tuple[bool, str | None]:
        """(credentials acceptable, user): no header is an anonymous caller, a bad one is not ok."""
        header = request.headers.get("authorization")
        if not header:
            return True, None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "basic":
            return False, None
        try:
            user, _, password = (
                base64.b64decode(token.strip(), validate=True).decode("utf-8").partition(":")
            )
        except (binascii.Error, UnicodeDecodeError):
            return False, None
        expected = self.users.get(user)
        if expected is not None and password == expected:
            return True, user
        return False, None

    def _json_body(self, request: Request, template: str) -> Any:
        """Parse and validate a JSON body; a Response when it must be refused."""
        where = f"{request.method} {request.path}"
        if request.body and media_type(request.headers.get("content-type")) != "application/json":
            return empty(415)
        try:
            body = json.loads(request.body.decode("utf-8")) if request.body else None
        except (UnicodeDecodeError, ValueError) as exc:
            self.spec_violations.append(f"{where}: body is not JSON: {exc}")
            return validation_error(("*", f"Unable to parse JSON: {exc}"))
        errors = body_errors(request.method, template, body)
        if errors:
            definition = definition_name(request.method, template)
            self.spec_violations.extend(f"{where} [{definition}] {e}" for e in errors)
            if self.reject_spec_violations:
                items = []
                for error in errors:
                    field, _, message = error.partition(": ")
                    ident = "*" if field == "<body>" else "PARAMETER " + field.replace("/", ".")
                    items.append((ident, message))
                return validation_error(*items)
        self.unknown_fields.extend(
            f"{where}: {p}" for p in unknown_fields(request.method, template, body)
        )
        return body

    def _content(self, request: Request) -> Response:
        """``/repository/<name>/...``: gated on the CE EULA (§2 step 3), else a registry ping."""
        if self.eula_endpoint and not self.eula_accepted:
            return Response.text(EULA_GATE_MESSAGE, 403)
        name, _, rest = request.path[len("/repository/") :].partition("/")
        record = self.repos.get(name)
        if record is None:
            return Response.text("Not Found", 404)
        if record.path_format == "docker" and ("/" + rest).startswith("/v2"):
            if self._authenticate(request)[1] is None:
                # A live 3.96.1 answers an anonymous ping 401 with a token challenge, even with
                # anonymous access on; content requests are what anonymous pulls really use.
                denied = {"code": "UNAUTHORIZED", "message": "authentication required"}
                resp = json_response({"errors": [denied]}, 401)
                token = f"{self.base_url()}/v2/token"
                resp.headers["WWW-Authenticate"] = f'Bearer realm="{token}",service="{token}"'
                return resp
            resp = json_response({})
            resp.headers["Docker-Distribution-Api-Version"] = "registry/2.0"
            return resp
        return Response.text("Not Found", 404)

    # -- status (§2 step 1) ---------------------------------------------------------------------
    def status(self, call: Call) -> Response:
        """GET /v1/status: 200 with an empty body, no auth needed."""
        return empty(200)

    def status_writable(self, call: Call) -> Response:
        """GET /v1/status/writable: 200, or 503 while :attr:`frozen` (read-only); no auth needed."""
        return empty(503 if self.frozen else 200)

    # -- EULA (§2 step 3) -------------------------------------------------------------------------
    def get_eula(self, call: Call) -> Response:
        """GET /v1/system/eula: ``{"accepted", "disclaimer"}``."""
        return json_response({"accepted": self.eula_accepted, "disclaimer": EULA_DISCLAIMER})

    def post_eula(self, call: Call) -> Response:
        """POST /v1/system/eula: 204 when the disclaimer is echoed exactly, else 500.

        Per NP ``CommunityEulaApiResource`` the stored value is the body's ``accepted`` (a live
        3.96.1 refuses ``false`` with 500; the client only ever sends ``true``).
        """
        body = call.body if isinstance(call.body, dict) else {}
        if body.get("disclaimer") != EULA_DISCLAIMER:
            return message_error("Invalid EULA disclaimer", 500)
        self.eula_accepted = bool(body.get("accepted", False))
        return empty(204)

    # -- realms (§2 step 4) -----------------------------------------------------------------------
    def realms_available(self, call: Call) -> Response:
        """GET /v1/security/realms/available: ``[{"id","name"}]``."""
        return json_response([{"id": i, "name": n} for i, n in self.available_realms])

    def realms_active(self, call: Call) -> Response:
        """GET /v1/security/realms/active: the ordered list of active realm ids."""
        return json_response(list(self.active_realms))

    def set_realms(self, call: Call) -> Response:
        """PUT /v1/security/realms/active: replaces the whole ordered list; 204; unknown ids 400."""
        known = {i for i, _ in self.available_realms}
        unknown = [r for r in call.body if r not in known]
        if unknown:
            return message_error(f"Unknown realmIds: [{', '.join(unknown)}]")
        self.active_realms = list(call.body)
        return empty(204)

    # -- anonymous (§2 step 5) ------------------------------------------------------------------
    def get_anonymous(self, call: Call) -> Response:
        """GET /v1/security/anonymous: AnonymousAccessSettingsXO."""
        return json_response(dict(self.anonymous))

    def set_anonymous(self, call: Call) -> Response:
        """PUT /v1/security/anonymous: 200 echoing the stored settings (absent keys keep theirs)."""
        for key in ("enabled", "userId", "realmName"):
            if key in call.body:
                self.anonymous[key] = call.body[key]
        return json_response(dict(self.anonymous))

    # -- users (§2 step 2) ----------------------------------------------------------------------
    def change_password(self, call: Call) -> Response:
        """PUT /v1/security/users/{id}/change-password (text/plain): 204; blank 400; unknown 404."""
        user_id = call.params["userId"]
        if user_id not in self.users:
            return empty(404)
        if not call.body.strip():
            return message_error("Password must be supplied.")
        self.users[user_id] = call.body
        if user_id == "admin" and self.password_file is not None and self.password_file.exists():
            self.password_file.unlink()
        return empty(204)


def main(argv: list[str] | None = None) -> int:
    """Serve a fake Nexus on 127.0.0.1 until interrupted (SIGINT or SIGTERM)."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.fakes.nexus", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every request")
    parser.add_argument(
        "--fresh", action="store_true", help="start un-bootstrapped (random admin password)"
    )
    parser.add_argument(
        "--admin-password", default="admin123", help="admin password when not --fresh"
    )
    parser.add_argument("--password-file", help="with --fresh, write the initial password here")
    args = parser.parse_args(argv)
    fake = NexusFake(
        bootstrapped=not args.fresh,
        admin_password=args.admin_password,
        password_file=args.password_file,
        latency=args.latency,
    )
    fake.start(args.port)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"fake nexus listening on {fake.url}", flush=True)
    if fake.initial_password:
        print(f"initial admin password: {fake.initial_password}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
