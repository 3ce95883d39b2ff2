"""HTTP handlers for repositories and blob stores of the fake Nexus (see :mod:`.nexus_repos`).

The rules and GET views live in :mod:`tests.fakes.nexus_repos`; this module only maps each
operation onto them, in the order Nexus applies its checks (NP ``AbstractRepositoriesApiResource``
and ``AbstractGroupRepositoriesApiResource``): bean validation (already done by the dispatcher),
group members, request conversion, name match, existence, then the store's own checks.
"""

from __future__ import annotations

import copy
from typing import Any

from tests.fakes.base import Response
from tests.fakes.nexus_repos import (
    BLOBSTORE_CHANGE_NOT_ALLOWED,
    BLOBSTORE_NOT_FOUND,
    DUPLICATE_MESSAGE,
    FORMATS,
    RENAME_NOT_SUPPORTED,
    RepoRecord,
    RepoRejected,
    blobstore_summary,
    check_cleanup,
    check_connection,
    check_docker,
    created,
    group_violations,
    no_content,
    not_found,
    ok,
    render,
    repository_xo,
)
from tests.fakes.nexus_wire import Call, empty, message_error, validation_error


class RepositoryEndpoints:
    """Handlers of ``/v1/repositories*``, ``/v1/repositorySettings`` and ``/v1/blobstores*``.

    Mixed into :class:`tests.fakes.nexus.NexusFake`, which owns the state declared below, routes
    requests here only after authentication and spec validation of the body, and holds its lock.
    """

    repos: dict[str, RepoRecord]
    blobstores: dict[str, dict[str, Any]]
    cleanup_policies: set[str]
    duplicate_error: str
    extra_fields: bool
    anonymous: dict[str, Any]

    def base_url(self) -> str:  # pragma: no cover - provided by NexusFake
        raise NotImplementedError

    def _can_browse(self, call: Call) -> bool:
        # Browse is a permission, not @RequiresAuthentication: an anonymous caller sees what the
        # anonymous user may browse (everything when anonymous access is on, nothing otherwise).
        return call.user is not None or bool(self.anonymous.get("enabled"))

    # repositories, any format
    def list_repositories(self, call: Call) -> Response:
        """GET /v1/repositories: RepositoryXO of every repository the caller may browse."""
        if not self._can_browse(call):
            return ok([])
        return ok(
            [repository_xo(r, self.base_url(), self.extra_fields) for r in self.repos.values()]
        )

    def get_repository(self, call: Call) -> Response:
        """GET /v1/repositories/{name}: any format or type; 404 ``"Repository not found"``."""
        record = self.repos.get(call.params["name"])
        if record is None or not self._can_browse(call):
            return not_found()
        return ok(repository_xo(record, self.base_url(), self.extra_fields))

    def repository_settings(self, call: Call) -> Response:
        """GET /v1/repositorySettings: the full per-format view of every repository."""
        return ok([render(r, self.base_url(), self.extra_fields) for r in self.repos.values()])

    def delete_repository(self, call: Call) -> Response:
        """DELETE /v1/repositories/{name}: 204, or 404 with no body; also leaves every group."""
        name = call.params["name"]
        if name not in self.repos:
            return empty(404)
        del self.repos[name]
        for record in self.repos.values():
            group = record.body.get("group")
            if record.type == "group" and group and name in (group.get("memberNames") or []):
                group["memberNames"] = [m for m in group["memberNames"] if m != name]
        return no_content()

    def invalidate_cache(self, call: Call) -> Response:
        """POST /v1/repositories/{name}/invalidate-cache: 204; 400 unless proxy or group; 404."""
        record = self.repos.get(call.params["name"])
        if record is None:
            return not_found()
        if record.type not in ("proxy", "group"):
            return message_error("You can invalidate cache of proxy or group repository only")
        return no_content()

    # repositories, format paths
    def get_format_repository(self, call: Call) -> Response:
        """GET /v1/repositories/{fmt}/{type}/{name}: 404 unless format *and* type match."""
        record = self.repos.get(call.params["name"])
        if record is None or (record.path_format, record.type) != (
            call.params["fmt"],
            call.params["type"],
        ):
            return not_found()
        return ok(render(record, self.base_url(), self.extra_fields))

    def create_repository(self, call: Call) -> Response:
        """POST /v1/repositories/{fmt}/{type}: 201 with an empty body, or a Nexus-shaped 400."""
        fmt, rtype, body = call.params["fmt"], call.params["type"], call.body
        name: str = body["name"]
        if rtype == "group" and (violations := group_violations(body, fmt, self.repos)):
            return validation_error(*violations)
        try:
            if rtype == "proxy":
                check_connection(body)
            self._check_unique(name)
            self._check_blobstore_exists(body)
            check_cleanup(body, self.cleanup_policies)
            if fmt == "docker":
                check_docker(body, name, self.repos)
        except RepoRejected as rejected:
            return rejected.response
        self.repos[name] = RepoRecord(name, fmt, rtype, copy.deepcopy(body))
        return created()

    def update_repository(self, call: Call) -> Response:
        """PUT /v1/repositories/{fmt}/{type}/{name}: 204; 404 (empty) if missing; else 400."""
        fmt, rtype, name, body = (
            call.params["fmt"],
            call.params["type"],
            call.params["name"],
            call.body,
        )
        if rtype == "group" and (violations := group_violations(body, fmt, self.repos)):
            return validation_error(*violations)
        try:
            if rtype == "proxy":
                check_connection(body)
            if body["name"] != name:
                raise RepoRejected(message_error(RENAME_NOT_SUPPORTED))
            record = self.repos.get(name)
            if record is None:
                return empty(404)
            if (record.path_format, record.type) != (fmt, rtype):
                # Not recorded: Nexus keeps the stored recipe and fails the facet update; the fake
                # refuses it outright rather than turn a proxy into a half-group.
                raise RepoRejected(
                    message_error(
                        f"Repository {name} is a {record.format} {record.type} repository, "
                        f"not {FORMATS[fmt][0]} {rtype}"
                    )
                )
            old_store = (record.body.get("storage") or {}).get("blobStoreName")
            if (body.get("storage") or {}).get("blobStoreName") != old_store:
                raise RepoRejected(message_error(BLOBSTORE_CHANGE_NOT_ALLOWED))
            check_cleanup(body, self.cleanup_policies)
            if fmt == "docker":
                check_docker(body, name, self.repos)
        except RepoRejected as rejected:
            return rejected.response
        record.body = copy.deepcopy(body)
        return no_content()

    def _check_unique(self, name: str) -> None:
        clash = next((r for r in self.repos if r.lower() == name.lower()), None)
        if clash is None:
            return
        if self.duplicate_error == "string":
            raise RepoRejected(
                message_error(
                    f"Cannot index record #17:8: found duplicated key '{name}' in index "
                    f"'repository_repository_name_idx' previously assigned to the record #17:3"
                )
            )
        raise RepoRejected(validation_error(("PARAMETER name", DUPLICATE_MESSAGE)))

    def _check_blobstore_exists(self, body: dict[str, Any]) -> None:
        if (body.get("storage") or {}).get("blobStoreName") not in self.blobstores:
            raise RepoRejected(message_error(BLOBSTORE_NOT_FOUND))

    # blob stores
    def list_blobstores(self, call: Call) -> Response:
        """GET /v1/blobstores: one GenericBlobStoreApiResponse per blob store."""
        return ok([blobstore_summary(n, s, self.repos) for n, s in self.blobstores.items()])

    def create_file_blobstore(self, call: Call) -> Response:
        """POST /v1/blobstores/file: 204 (not 201); duplicate name, ignoring case, -> 400 list."""
        body = call.body
        name = body.get("name")
        if not name:
            return validation_error(("name", "may not be empty"))
        if any(n.lower() == name.lower() for n in self.blobstores):
            # NP BlobStoreResource: ValidationErrorsException("name", ...)
            return validation_error(("name", DUPLICATE_MESSAGE))
        self.blobstores[name] = {
            "path": body.get("path") or name,
            "softQuota": copy.deepcopy(body.get("softQuota")),
        }
        return no_content()

    def get_file_blobstore(self, call: Call) -> Response:
        """GET /v1/blobstores/file/{name}: FileBlobStoreApiModel ``{softQuota, path}`` or 404."""
        store = self.blobstores.get(call.params["name"])
        if store is None:
            return message_error(BLOBSTORE_NOT_FOUND, 404)
        return ok({"softQuota": copy.deepcopy(store.get("softQuota")), "path": store["path"]})

    def update_file_blobstore(self, call: Call) -> Response:
        """PUT /v1/blobstores/file/{name}: 204, or 404 when missing."""
        store = self.blobstores.get(call.params["name"])
        if store is None:
            return message_error(BLOBSTORE_NOT_FOUND, 404)
        if call.body.get("path"):
            store["path"] = call.body["path"]
        store["softQuota"] = copy.deepcopy(call.body.get("softQuota"))
        return no_content()

    def delete_blobstore(self, call: Call) -> Response:
        """DELETE /v1/blobstores/{name}: 204; 404 when missing; 400 while a repository uses it."""
        name = call.params["name"]
        if name not in self.blobstores:
            return message_error(BLOBSTORE_NOT_FOUND, 404)
        users = [
            r.name
            for r in self.repos.values()
            if (r.body.get("storage") or {}).get("blobStoreName") == name
        ]
        if users:
            return message_error(f"Blob store {name} is in use by {len(users)} repositories")
        del self.blobstores[name]
        return no_content()
