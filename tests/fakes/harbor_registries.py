"""Registry-endpoint handlers of the fake Harbor (``/registries``, ``/replication/adapters``).

Behaviour follows ``shared/reference/harbor.md`` §0 and §3 and H:src/server/v2.0/handler/
registry.go, H:src/controller/registry/controller.go, H:src/pkg/reg/{manager.go,dao/dao.go}.
"""

from __future__ import annotations

import copy
from typing import Any

from .base import Response
from .harbor_common import (
    ADAPTER_TYPES,
    ADAPTER_WHITELIST,
    HarborError,
    empty_response,
    filter_rows,
    json_response,
    list_response,
    normalize_url,
    now_iso,
    paginate,
    parse_paging,
    parse_q,
    sort_rows,
    swagger_error,
)
from .harbor_state import Ctx, HarborState

MASK = "*****"


class RegistryHandlers(HarborState):
    """``/registries*`` endpoints. Every handler takes a :class:`Ctx` and returns a Response.

    ``url_change_clears_secret`` (default True) reproduces the behaviour recorded in
    reference/aesthetics-ecosystem.md ("Harbor clears the stored secret if the URL changes and no
    new secret is sent"), so clients must resend ``access_secret`` with every URL swap.
    """

    url_change_clears_secret: bool = True

    # -- wire form ----------------------------------------------------------------------------
    def registry_view(self, reg: dict[str, Any]) -> dict[str, Any]:
        """``convertRegistry``: secret masked (§0.8); Go ``omitempty`` drops false/"" fields."""
        cred = dict(reg["credential"])
        if cred.get("access_secret"):
            cred["access_secret"] = MASK
        out: dict[str, Any] = {
            "id": reg["id"], "name": reg["name"], "type": reg["type"], "url": reg["url"],
            "credential": {k: v for k, v in cred.items() if v},
            "status": reg["status"],
            "creation_time": reg["creation_time"], "update_time": reg["update_time"],
        }
        if reg["insecure"]:
            out["insecure"] = True
        if reg["description"]:
            out["description"] = reg["description"]
        if self.has("ca_certificate") and reg.get("ca_certificate") is not None:
            out["ca_certificate"] = reg["ca_certificate"]
        if self.extra_fields:  # fields a newer Harbor might add; clients must ignore them
            out["x_fake_extra"] = "unknown field"
            out["x_fake_extra_obj"] = {"nested": True}
        return out

    def _get_registry(self, rid: int) -> dict[str, Any]:
        reg = self.registries.get(rid)
        if reg is None:
            raise HarborError(404, f"registry {rid} not found")
        return reg

    @staticmethod
    def _path_id(ctx: Ctx) -> int:
        raw = ctx.params["id"]
        try:
            return int(raw)
        except ValueError:
            raise swagger_error(422, f"id in path must be of type int64: {raw!r}") from None

    def _validate(self, reg: dict[str, Any]) -> None:
        """``controller.validate`` (create and update): name, URL, then the health ping (§0.3)."""
        if not reg["name"]:
            raise HarborError(400, "name cannot be empty")
        if len(reg["name"]) > 64:
            raise HarborError(400, "the max length of name is 64")
        reg["url"] = normalize_url(reg["url"])
        ca = reg.get("ca_certificate")
        if self.has("ca_certificate") and ca and "-----BEGIN CERTIFICATE-----" not in ca:
            raise HarborError(400, "invalid ca_certificate: no PEM certificate found")
        if not self.is_healthy(reg["type"], reg["url"]):
            raise HarborError(400, "the registry is unhealthy")
        reg["status"] = "healthy"  # §0.2: validate sets Status=Healthy before storing

    def _name_taken(self, name: str, rid: int | None) -> bool:
        return any(r["name"] == name and r["id"] != rid for r in self.registries.values())

    # -- handlers -----------------------------------------------------------------------------
    def list_registries(self, ctx: Ctx) -> Response:
        """GET /registries: q, deprecated fuzzy ``name=``, sort, paging (§1, §3)."""
        self.require_admin(ctx)
        query = ctx.request.query
        page, page_size = parse_paging(query)
        clauses = parse_q(ctx.request.arg("q"))
        rows = filter_rows(list(self.registries.values()), clauses)
        name = ctx.request.arg("name")
        if name is not None:
            rows = [r for r in rows if name.lower() in r["name"].lower()]
        rows = sort_rows(rows, ctx.request.arg("sort"), "id")
        page_rows = [self.registry_view(r) for r in paginate(rows, page, page_size)]
        return list_response(ctx.request.path, query, page_rows, len(rows), page, page_size)

    def create_registry(self, ctx: Ctx) -> Response:
        """POST /registries -> 201 + Location ``<path>/<id>``, no body (§1, §3)."""
        body = self.bind(ctx, "Registry", "registry")
        self.require_admin(ctx)
        cred = body.get("credential") or {}
        stamp = now_iso()
        reg: dict[str, Any] = {
            "id": 0, "name": body.get("name", ""), "type": body.get("type", ""),
            "url": body.get("url", ""), "insecure": bool(body.get("insecure", False)),
            "description": body.get("description", ""), "status": "",
            "credential": self.make_credential(cred.get("type", ""), cred.get("access_key", ""),
                                               cred.get("access_secret", "")),
            "ca_certificate": body.get("ca_certificate") if self.has("ca_certificate") else None,
            "creation_time": stamp, "update_time": stamp,
        }
        if "ca_certificate" in body and not self.has("ca_certificate"):
            self.ignored_fields.append(f"POST {ctx.request.path}: ca_certificate (< v2.15)")
        self._validate(reg)
        if self._name_taken(reg["name"], None):
            raise HarborError(409, f"registry {reg['name']} already exists")
        reg["id"] = self.new_registry_id()
        self.registries[reg["id"]] = reg
        location = f"{ctx.request.path.rstrip('/')}/{reg['id']}"
        return empty_response(201, {"Location": location})

    def get_registry(self, ctx: Ctx) -> Response:
        """GET /registries/{id}: 200 with the secret masked, 404 ``registry <id> not found``."""
        self.require_admin(ctx)
        return json_response(self.registry_view(self._get_registry(self._path_id(ctx))))

    def update_registry(self, ctx: Ctx) -> Response:
        """PUT /registries/{id} with the flat ``RegistryUpdate``; nil fields are kept (§3).

        Every update re-validates and pings the (possibly new) URL: 400 "the registry is
        unhealthy" even for a rename while the upstream is down (§0.3). An empty ``access_key``
        drops the whole credential (``toDaoModel``).
        """
        rid = self._path_id(ctx)
        body = self.bind(ctx, "RegistryUpdate", "registry")
        self.require_admin(ctx)
        stored = self._get_registry(rid)
        reg = copy.deepcopy(stored)
        for key in ("name", "description", "url", "insecure"):
            if key in body:
                reg[key] = body[key]
        if "ca_certificate" in body:
            if self.has("ca_certificate"):
                reg["ca_certificate"] = body["ca_certificate"]
            else:
                self.ignored_fields.append(f"PUT {ctx.request.path}: ca_certificate (< v2.15)")
        cred = dict(reg["credential"])
        url_changed = "url" in body and normalize_url(body["url"]) != stored["url"]
        if self.url_change_clears_secret and url_changed and "access_secret" not in body:
            cred["access_secret"] = ""
        for src, dst in (("credential_type", "type"), ("access_key", "access_key"),
                         ("access_secret", "access_secret")):
            if src in body:
                cred[dst] = body[src]
        reg["credential"] = self.make_credential(cred.get("type", ""), cred.get("access_key", ""),
                                                 cred.get("access_secret", ""))
        self._validate(reg)
        if self._name_taken(reg["name"], rid):
            raise HarborError(409, f"registry {reg['name']} already exists")
        reg["update_time"] = now_iso()
        self.registries[rid] = reg
        return empty_response(200)

    def delete_registry(self, ctx: Ctx) -> Response:
        """DELETE /registries/{id}: 412 while a proxy project references it (§3)."""
        rid = self._path_id(ctx)
        self.require_admin(ctx)
        if any(p["registry_id"] == rid for p in self.projects.values()):
            raise HarborError(
                412, f"the registry {rid} is referenced by proxy cache project, cannot delete it")
        self._get_registry(rid)
        del self.registries[rid]
        return empty_response(200)

    def ping_registry(self, ctx: Ctx) -> Response:
        """POST /registries/ping by ``id`` (stored settings) and/or by body fields (§3)."""
        body = self.bind(ctx, "RegistryPing", "registry")
        self.require_admin(ctx)
        reg: dict[str, Any] = {"type": "", "url": ""}
        if "id" in body:
            reg = copy.deepcopy(self._get_registry(int(body["id"])))
        if "type" in body:
            reg["type"] = body["type"]
        if "url" in body:
            reg["url"] = normalize_url(body["url"])
        if not reg["type"] or not reg["url"]:
            raise HarborError(400, "type or url cannot be empty")
        if not self.is_healthy(reg["type"], reg["url"]):
            raise HarborError(400, "the registry is unhealthy")
        return empty_response(200)

    def registry_info(self, ctx: Ctx) -> Response:
        """GET /registries/{id}/info: a minimal ``RegistryInfo``."""
        self.require_admin(ctx)
        reg = self._get_registry(self._path_id(ctx))
        return json_response({
            "type": reg["type"], "description": "",
            "supported_resource_filters": [
                {"type": "name", "style": "input"}, {"type": "tag", "style": "input"},
                {"type": "resource", "style": "radio", "values": ["image"]}],
            "supported_triggers": ["manual", "scheduled"],
        })

    def list_adapters(self, ctx: Ctx) -> Response:
        """GET /replication/adapters: whitelisted since v2.14 (§3); create ignores the list."""
        self.require_admin(ctx)
        types = [t for t in ADAPTER_TYPES if not self.has("adapter_whitelist")
                 or t in ADAPTER_WHITELIST]
        return json_response(sorted(types))
