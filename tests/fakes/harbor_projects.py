"""Project handlers of the fake Harbor (``/projects``), proxy-cache projects included.

Behaviour follows ``shared/reference/harbor.md`` §0.1, §1 and §4-§5 and
H:src/server/v2.0/handler/project.go (``CreateProject``, ``UpdateProject``, ``validateProjectReq``),
H:src/pkg/project/{manager.go,dao/dao.go}.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from .base import Response
from .harbor_common import (
    PROJECT_NAME_RE,
    HarborError,
    bad_request_cause,
    empty_response,
    filter_rows,
    forbidden,
    json_response,
    list_response,
    metadata_keys,
    paginate,
    parse_bool,
    parse_paging,
    parse_q,
    proxy_types,
    sort_rows,
    unauthorized,
)
from .harbor_registries import RegistryHandlers
from .harbor_state import Ctx

PROXY_ONLY_KEYS = ("proxy_speed_kb", "max_upstream_conn")
RETENTION_UPDATE_MSG = (
    "the retention_id in the request's payload when updating a project should be omitted, "
    "alternatively passing the one that has already been associated to this project")
RETENTION_CREATE_MSG = (
    "the retention_id in the request's payload when creating a project should be omitted, "
    "alternatively passing an empty string")


def _int32_problem(value: str) -> str | None:
    """Go ``strconv.ParseInt(v, 10, 32)`` error text, or None when ``value`` parses."""
    if not re.fullmatch(r"[+-]?[0-9]+", value):
        return f'strconv.ParseInt: parsing "{value}": invalid syntax'
    if not -(2**31) <= int(value) < 2**31:
        return f'strconv.ParseInt: parsing "{value}": value out of range'
    return None


class ProjectHandlers(RegistryHandlers):
    """``/projects*`` endpoints. Every handler takes a :class:`Ctx` and returns a Response."""

    # -- lookup and access --------------------------------------------------------------------
    def _project_key(self, ctx: Ctx) -> str | int:
        """H:handler/util.go ``parseProjectNameOrID``: a number is an id unless
        ``X-Is-Resource-Name: true`` (§1)."""
        raw = ctx.params["project"]
        is_name = parse_bool("X-Is-Resource-Name", "header",
                             ctx.request.headers.get("x-is-resource-name"))
        if not is_name and re.fullmatch(r"[+-]?[0-9]+", raw):
            return int(raw)
        return raw

    def _access(self, ctx: Ctx, key: str | int, write: bool) -> dict[str, Any]:
        """``RequireProjectAccess`` + get: 401 anonymous, 404 missing (v2.12+, harbor#17586,
        #21800), 403 not allowed. Anyone may read a public project."""
        project = self.find_project(key)
        if project is None:
            if ctx.user is None:
                raise unauthorized()
            raise HarborError(404, f"project {key} not found")
        if ctx.is_admin or (ctx.user and ctx.user["user_id"] == project["owner_id"]):
            return project
        if not write and project["metadata"].get("public") == "true":
            return project
        if ctx.user is None:
            raise unauthorized()
        raise forbidden()

    def _strip_unknown_metadata(self, ctx: Ctx, metadata: dict[str, Any]) -> dict[str, Any]:
        """Keys the configured version's ``ProjectMetadata`` lacks vanish in Go decoding (§9)."""
        known = metadata_keys(self.version)
        for key in [k for k in metadata if k not in known]:
            self.ignored_fields.append(
                f"{ctx.request.method} {ctx.request.path}: metadata/{key} "
                f"(unknown to {self.version_string})")
            del metadata[key]
        return metadata

    def project_view(self, project: dict[str, Any], ctx: Ctx) -> dict[str, Any]:
        """``model.Project.ToSwagger``: metadata limited to known keys, Go ``omitempty``."""
        known = metadata_keys(self.version)
        meta = {k: v for k, v in project["metadata"].items() if k in known}
        if not meta.get("public"):
            meta.pop("public", None)
        out: dict[str, Any] = {
            "project_id": project["project_id"], "owner_id": project["owner_id"],
            "name": project["name"], "owner_name": project["owner_name"],
            "creation_time": project["creation_time"], "update_time": project["update_time"],
            "repo_count": project["repo_count"], "metadata": meta,
            "cve_allowlist": copy.deepcopy(project["cve_allowlist"]),
        }
        if project["registry_id"]:
            out["registry_id"] = project["registry_id"]
        member = ctx.user is not None and (
            ctx.is_admin or ctx.user["user_id"] == project["owner_id"])
        if member:
            out["current_user_role_id"] = 1
            out["current_user_role_ids"] = [1]
            out["togglable"] = True
        if self.extra_fields:
            out["x_fake_extra"] = "unknown field"
            out["chart_count"] = 0  # pre-v2.8 field, still seen from older servers
        return out

    # -- handlers -----------------------------------------------------------------------------
    def list_projects(self, ctx: Ctx) -> Response:
        """GET /projects: anonymous callers see public projects only (§1 Auth)."""
        req = ctx.request
        page, page_size = parse_paging(req.query)
        public = parse_bool("public", "query", req.arg("public"))
        parse_bool("with_detail", "query", req.arg("with_detail"))
        clauses = parse_q(req.arg("q"))
        if ctx.user is None and public is False:
            return list_response(req.path, req.query, [], 0, page, page_size)
        rows = []
        for project in self.projects.values():
            row = {k: project[k] for k in ("name", "project_id", "owner_id", "registry_id",
                                           "creation_time", "update_time")}
            row["public"] = project["metadata"].get("public") == "true"
            row["owner"] = project["owner_name"]
            visible = ctx.is_admin or row["public"] or (
                ctx.user is not None and ctx.user["user_id"] == project["owner_id"])
            if visible:
                rows.append(row)
        rows = filter_rows(rows, clauses)
        name = req.arg("name")
        if name:
            rows = [r for r in rows if name.lower() in r["name"].lower()]
        owner = req.arg("owner")
        if owner:
            rows = [r for r in rows if r["owner"] == owner]
        if public is not None:
            rows = [r for r in rows if r["public"] is public]
        rows = sort_rows(rows, req.arg("sort"), "name")
        total = len(rows)
        if total == 0:
            return list_response(req.path, req.query, [], 0, 0, 0)
        out = [self.project_view(self.projects[r["name"]], ctx)
               for r in paginate(rows, page, page_size)]
        return list_response(req.path, req.query, out, total, page, page_size)

    def head_project(self, ctx: Ctx) -> Response:
        """HEAD /projects?project_name=: 200 or 404/401 without a body (§4)."""
        name = ctx.request.arg("project_name")
        if not name:
            raise HarborError(422, "validation failure list:\nproject_name in query is required")
        self._access(ctx, name, write=False)
        return empty_response(200)

    def create_project(self, ctx: Ctx) -> Response:
        """POST /projects -> 201 + Location by id, or by name with
        ``X-Resource-Name-In-Location: true`` (§1, §4 ``CreateProject`` rules)."""
        name_in_location = parse_bool("X-Resource-Name-In-Location", "header",
                                      ctx.request.headers.get("x-resource-name-in-location"))
        body = self.bind(ctx, "ProjectReq", "project")
        user = self.require_authenticated(ctx)
        if self.project_creation_restriction == "adminonly" and not ctx.is_admin:
            raise forbidden("Only system admin can create project")
        registry_id: int | None = body.get("registry_id")
        if registry_id is not None and not ctx.is_admin:
            raise forbidden("Only system admin can create proxy cache project")
        storage_limit = body.get("storage_limit")
        if storage_limit in (None, 0) or not ctx.is_admin:
            storage_limit = -1  # storage_per_project default
        metadata = self._strip_unknown_metadata(ctx, dict(body.get("metadata") or {}))
        if "public" in body and not metadata.get("public"):
            metadata["public"] = "true" if body["public"] else "false"
        metadata.setdefault("public", "false")
        if not metadata["public"]:
            metadata["public"] = "false"
        if metadata["public"] not in ("true", "false"):
            raise HarborError(400, "metadata.public should only be 'true' or 'false', "
                                   f"but got: '{metadata['public']}'")
        if registry_id is None:
            for key in PROXY_ONLY_KEYS:  # dropped for non-proxy projects
                metadata.pop(key, None)
        else:
            metadata.pop("enable_content_trust", None)  # harbor#12940
        self._validate_project_req(registry_id, metadata, storage_limit)
        name = body.get("project_name", "")
        if not 1 <= len(name) <= 255:
            raise HarborError(400, f"Project name {name} is illegal in length. "
                                   "(greater than 255 or less than 1)")
        if not PROJECT_NAME_RE.match(name):
            raise HarborError(
                400, "project name is not in lower case or contains illegal characters")
        if name in self.projects:
            raise HarborError(409, f"The project named {name} already exists")
        metadata.pop("retention_id", None)
        project = self.add_project(name, registry_id=registry_id, metadata=metadata,
                                   owner=user["username"])
        project["storage_limit"] = storage_limit
        if "cve_allowlist" in body:
            project["cve_allowlist"]["items"] = list(body["cve_allowlist"].get("items") or [])
        tail = name if name_in_location else str(project["project_id"])
        return empty_response(201, {"Location": f"{ctx.request.path.rstrip('/')}/{tail}"})

    def _validate_project_req(self, registry_id: int | None, metadata: dict[str, Any],
                              storage_limit: int) -> None:
        """``validateProjectReq`` (create only, §4)."""
        if metadata.get("retention_id"):
            raise bad_request_cause(RETENTION_CREATE_MSG)
        if registry_id is not None:
            if registry_id <= 0:
                raise bad_request_cause(
                    f"{registry_id} is invalid value of registry_id, it should be geater than 0")
            registry = self.registries.get(registry_id)
            if registry is None:  # the 404 is wrapped with %v and loses its code -> 500 (§4)
                raise HarborError(500, f"failed to get the registry {registry_id}: "
                                       f"registry {registry_id} not found")
            if registry["type"] not in proxy_types(self.version):
                raise bad_request_cause(f"unsupported registry type {registry['type']}")
            speed = metadata.get("proxy_speed_kb")
            if speed is not None and (err := _int32_problem(speed)):
                raise HarborError(400, "metadata.proxy_speed_kb should by an int32, "
                                       f"but got: '{speed}', err: {err}")
            conn = metadata.get("max_upstream_conn")
            if conn is not None and (err := _int32_problem(conn)):
                raise HarborError(400, "metadata.max_upstream_conn should be an int, "
                                       f"but got '{conn}', err: {err}")
        if storage_limit != -1 and storage_limit <= 0:
            raise bad_request_cause(f"invalid value {storage_limit} for storage")

    def get_project(self, ctx: Ctx) -> Response:
        """GET /projects/{name_or_id} (§1 "Name or ID in the path")."""
        key = self._project_key(ctx)
        return json_response(self.project_view(self._access(ctx, key, write=False), ctx))

    def update_project(self, ctx: Ctx) -> Response:
        """PUT /projects/{name_or_id}: only ``metadata`` and ``cve_allowlist`` change.

        ``registry_id``, ``storage_limit``, ``project_name`` and ``public`` are silently ignored
        (§0.1, harbor#20176); metadata values are merged without validation (§4); a different
        ``retention_id`` is a 400.
        """
        key = self._project_key(ctx)
        body = self.bind(ctx, "ProjectReq", "project")
        project = self._access(ctx, key, write=True)
        current = {"registry_id": project["registry_id"], "project_name": project["name"],
                   "storage_limit": project["storage_limit"]}
        for field, value in current.items():
            if field in body and body[field] != value:
                self.ignored_fields.append(
                    f"PUT {ctx.request.path}: {field} (UpdateProject ignores it, §0.1)")
        allowlist = body.get("cve_allowlist")
        new_allowlist = copy.deepcopy(project["cve_allowlist"])
        if allowlist is not None:
            pid = allowlist.get("project_id") or project["project_id"]
            if pid != project["project_id"]:
                raise HarborError(400, f"project_id in cve_allowlist must be "
                                       f"{project['project_id']} but it's {pid}")
            new_allowlist["items"] = list(allowlist.get("items") or [])
            if "expires_at" in allowlist:
                new_allowlist["expires_at"] = allowlist["expires_at"]
        merged = dict(project["metadata"])
        if "metadata" in body:
            metadata = self._strip_unknown_metadata(ctx, dict(body["metadata"]))
            if project["registry_id"]:
                metadata.pop("enable_content_trust", None)
            else:
                for k in PROXY_ONLY_KEYS:
                    metadata.pop(k, None)
            if not metadata.get("public"):
                metadata.pop("public", None)  # a non-pointer "" is omitted by JSONCopy
            merged.update(metadata)
        if "retention_id" in merged and merged["retention_id"] != project["metadata"].get(
                "retention_id"):
            raise HarborError(400, RETENTION_UPDATE_MSG)
        project["metadata"] = merged
        project["cve_allowlist"] = new_allowlist
        return empty_response(200)

    def _deletable(self, project: dict[str, Any]) -> tuple[bool, str]:
        if project["repo_count"] > 0:
            return False, "the project contains repositories, can not be deleted"
        return True, ""

    def delete_project(self, ctx: Ctx) -> Response:
        """DELETE /projects/{name_or_id}: 412 while it has repositories (§4)."""
        project = self._access(ctx, self._project_key(ctx), write=True)
        ok, message = self._deletable(project)
        if not ok:
            raise HarborError(412, f"precondition failed: {message}")
        del self.projects[project["name"]]
        retention = project["metadata"].get("retention_id", "")
        if retention.isdigit():
            self.retentions.pop(int(retention), None)
        return empty_response(200)

    def project_deletable(self, ctx: Ctx) -> Response:
        """GET /projects/{p}/_deletable -> ``ProjectDeletable``."""
        project = self._access(ctx, self._project_key(ctx), write=True)
        ok, message = self._deletable(project)
        return json_response({"deletable": ok, "message": message} if message
                             else {"deletable": ok})

    def project_summary(self, ctx: Ctx) -> Response:
        """GET /projects/{p}/summary: quota and, for proxy projects, the endpoint (secret
        stripped)."""
        project = self._access(ctx, self._project_key(ctx), write=False)
        out: dict[str, Any] = {"repo_count": project["repo_count"]}
        if ctx.user is not None:
            out["project_admin_count"] = 1
            out["quota"] = {"hard": {"storage": project["storage_limit"]},
                            "used": {"storage": 0}}
        reg = self.registries.get(project["registry_id"] or 0)
        if reg is not None:
            view = self.registry_view(reg)
            view["credential"].pop("access_secret", None)
            out["registry"] = view
        return json_response(out)
