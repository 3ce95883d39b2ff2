"""Pure helpers for the fake Harbor: errors, versions, URLs, ``q=`` queries, paging, formats.

Everything here is free of server state so it can be unit-tested on its own. Section numbers
(``§1`` …) refer to ``shared/reference/harbor.md``; ``H:`` paths to goharbor/harbor sources.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus, unquote_plus, urlsplit

from .base import Response

API_PREFIX = "/api/v2.0"
DEFAULT_VERSION = "v2.15.2-abcdef"

# §1 code→HTTP mapping (H:src/lib/http/error.go codeMap); go-swagger errors use the status text.
CODE_BY_STATUS: dict[int, str] = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    412: "PRECONDITION",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "UNPROCESSABLE_ENTITY",
    429: "TOO_MANY_REQUEST",
    500: "UNKNOWN",
}

# §3 adapter types registered in v2.15.2 (H:src/pkg/reg/model/registry.go).
ADAPTER_TYPES: tuple[str, ...] = (
    "harbor", "docker-hub", "docker-registry", "huawei-SWR", "google-gcr", "aws-ecr", "azure-acr",
    "ali-acr", "jfrog-artifactory", "quay", "gitlab", "dtr", "tencent-tcr", "github-ghcr",
    "volcengine-cr", "helm-hub", "artifact-hub",
)
# §3 default REPLICATION_ADAPTER_WHITELIST (v2.14+): filters only /replication/adapters*.
ADAPTER_WHITELIST: tuple[str, ...] = (
    "ali-acr", "aws-ecr", "azure-acr", "docker-hub", "docker-registry", "github-ghcr", "google-gcr",
    "harbor", "huawei-SWR", "jfrog-artifactory", "tencent-tcr", "volcengine-cr",
)
# §3 PERMITTED_REGISTRY_TYPES_FOR_PROXY_CACHE default; quay was dropped in v2.14.
PROXY_TYPES: tuple[str, ...] = (
    "docker-hub", "harbor", "azure-acr", "ali-acr", "aws-ecr", "google-gcr", "docker-registry",
    "github-ghcr", "jfrog-artifactory",
)

Version = tuple[int, int, int]

# §9 feature/version matrix: the first version that knows a field.
FEATURE_SINCE: dict[str, Version] = {
    "proxy_speed_kb": (2, 12, 0),
    "adapter_whitelist": (2, 14, 0),
    "max_upstream_conn": (2, 15, 0),
    "ca_certificate": (2, 15, 0),
    "proxy_cache_local_on_not_found": (2, 15, 1),
}

# §5 metadata keys every supported version knows; the proxy ones are gated by FEATURE_SINCE.
BASE_METADATA_KEYS: tuple[str, ...] = (
    "public", "enable_content_trust", "enable_content_trust_cosign", "prevent_vul", "severity",
    "auto_scan", "reuse_sys_cve_allowlist", "auto_sbom_generation", "retention_id",
)
GATED_METADATA_KEYS: tuple[str, ...] = (
    "proxy_speed_kb", "max_upstream_conn", "proxy_cache_local_on_not_found",
)

PROJECT_NAME_RE = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")  # H:src/pkg/project/manager.go


class HarborError(Exception):
    """An error the fake answers with ``{"errors":[{"code","message"}]}``.

    ``status >= 500`` bodies are replaced by the generic one on the wire (§1); ``message`` is kept
    in ``FakeHarbor.server_errors`` so tests can see the real cause.
    """

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or CODE_BY_STATUS.get(status, "UNKNOWN")


def unauthorized() -> HarborError:
    """``errors.UnauthorizedError(nil)``: message is the literal "unauthorized"."""
    return HarborError(401, "unauthorized")


def forbidden(message: str = "forbidden") -> HarborError:
    """``errors.ForbiddenError(nil)`` optionally ``.WithMessage(...)``."""
    return HarborError(403, message)


def bad_request_cause(cause: str) -> HarborError:
    """``errors.BadRequestError(fmt.Errorf(cause))``: "bad request: <cause>"."""
    return HarborError(400, f"bad request: {cause}")


def swagger_error(status: int, *messages: str) -> HarborError:
    """A go-swagger binding failure: a CompositeValidationError, always 422 (§1)."""
    return HarborError(status, "\n".join(("validation failure list:", *messages)))


def error_response(err: HarborError) -> Response:
    """The wire form of ``err`` (H:src/lib/http/error.go ``SendError``: 5xx body is generic)."""
    code, message = err.code, err.message
    if err.status >= 500:
        code, message = "UNKNOWN", "internal server error"
    body = json.dumps({"errors": [{"code": code, "message": message}]}, separators=(",", ":"))
    return Response(err.status, (body + "\n").encode(),
                     {"Content-Type": "application/json; charset=utf-8"})


def json_response(payload: Any, status: int = 200,
                  headers: dict[str, str] | None = None) -> Response:
    """A go-swagger JSON answer (compact JSON, trailing newline like ``json.Encoder``)."""
    hdrs = {"Content-Type": "application/json"}
    hdrs.update(headers or {})
    return Response(status, (json.dumps(payload, separators=(",", ":")) + "\n").encode(), hdrs)


def empty_response(status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A bodiless answer, e.g. 200 on PUT/DELETE or 201 + Location on create."""
    return Response(status, b"", dict(headers or {}))


# -- versions ---------------------------------------------------------------------------------
def parse_version(text: str) -> Version:
    """``"v2.15.2-abcdef"`` -> ``(2, 15, 2)``; missing parts are 0."""
    match = re.match(r"^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?", text.strip())
    if not match:
        raise ValueError(f"not a Harbor version: {text!r}")
    major, minor, patch = (int(g) if g else 0 for g in match.groups())
    return (major, minor, patch)


def has_feature(version: Version, feature: str) -> bool:
    """Whether a Harbor of ``version`` knows ``feature`` (§9 matrix)."""
    return version >= FEATURE_SINCE[feature]


def metadata_keys(version: Version) -> tuple[str, ...]:
    """Project metadata keys the ``ProjectMetadata`` model of ``version`` has (§5, §9)."""
    return BASE_METADATA_KEYS + tuple(k for k in GATED_METADATA_KEYS if has_feature(version, k))


def proxy_types(version: Version) -> tuple[str, ...]:
    """Registry types allowed behind a proxy-cache project; quay until v2.13 (§3)."""
    return PROXY_TYPES if has_feature(version, "adapter_whitelist") else PROXY_TYPES + ("quay",)


# -- formats ----------------------------------------------------------------------------------
def now_iso() -> str:
    """``strfmt.DateTime`` JSON: UTC with milliseconds, e.g. ``2026-07-01T10:00:00.123Z``."""
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def new_token(nbytes: int = 16) -> str:
    """A random hex token (sid cookies, CSRF tokens, request IDs)."""
    return secrets.token_hex(nbytes)


def normalize_url(raw: str) -> str:
    """H:src/lib/endpoint.go ``ValidateHTTPURL`` (v2.15.2), §3 "URL normalisation".

    Trim spaces and trailing ``/``, prepend ``http://`` when there is no scheme, keep only
    scheme, host and path (query and fragment dropped). The host case is kept (lower-casing came
    after v2.15.2). Raises 400 like Harbor.
    """
    s = raw.strip(" ").rstrip("/")
    if not s:
        raise HarborError(400, "empty string")
    if "://" not in s:
        s = "http://" + s
    try:
        parts = urlsplit(s)
        host = parts.netloc
    except ValueError as exc:
        raise HarborError(400, f"invalid URL: {exc}") from exc
    if parts.scheme not in ("http", "https"):
        raise HarborError(400, f"invalid HTTP scheme: {parts.scheme}")
    return f"{parts.scheme}://{host}{parts.path}"


def password_problem(password: str) -> str | None:
    """§6 new-password policy (H:handler/user.go ``requireValidSecret``); None when valid."""
    ok = (
        8 <= len(password) <= 128
        and re.search(r"[a-z]", password) is not None
        and re.search(r"[A-Z]", password) is not None
        and re.search(r"[0-9]", password) is not None
    )
    if ok:
        return None
    return ("the password or secret must be longer than 8 chars with at least 1 uppercase letter, "
            "1 lowercase letter and 1 number")


_TRUE = {"1", "t", "true", "y", "yes", "on", "ok", "enabled", "checked", "selected"}
_FALSE = {"", "0", "f", "false", "n", "no", "off", "disabled"}


def parse_bool(name: str, where: str, raw: str | None) -> bool | None:
    """go-openapi ``swag.ConvertBool`` for a header or query parameter; 422 when not a bool."""
    if raw is None:
        return None
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise swagger_error(422, f"{name} in {where} must be of type boolean: {raw!r}")


# -- q= queries (§1, H:src/lib/q/builder.go) --------------------------------------------------
@dataclass(frozen=True)
class Clause:
    """One ``k=v`` clause: kind is exact, fuzzy, range, or, and."""

    kind: str
    values: tuple[Any, ...]


def _parse_value(raw: str) -> Any:
    value = raw.strip()
    try:
        return int(value)
    except ValueError:
        return value.strip("\"'")


def parse_q(q: str | None) -> dict[str, Clause]:
    """Parse ``q=k=v,k=~v,k=[a~b],k={a b},k=(a b)``; 400 with Harbor's messages on bad input."""
    if not q:
        return {}
    q = unquote_plus(q)  # Harbor unescapes once more (H:src/lib/q/builder.go parseKeywords)
    out: dict[str, Clause] = {}
    for param in q.split(","):
        key, sep, raw = param.partition("=")
        if not sep or not key or not raw:
            raise HarborError(
                400, 'the query string must contain "=" and the key/value cannot be empty')
        out[key] = _parse_pattern(raw)
    return out


def _parse_pattern(raw: str) -> Clause:
    bad = HarborError(400, f"invalid query string value: {raw}")
    head = raw[0]
    if head == "~":
        if len(raw) < 2:
            raise bad
        return Clause("fuzzy", (raw[1:],))
    if head == "[":
        if raw[-1] != "]" or raw.count("~") != 1:
            raise bad
        low, high = (p.strip() for p in raw[1:-1].split("~", 1))
        if not low and not high:
            raise bad
        return Clause("range", (_parse_value(low) if low else None,
                                _parse_value(high) if high else None))
    if head in "{(":
        if raw[-1] != ("}" if head == "{" else ")"):
            raise bad
        items = tuple(_parse_value(s) for s in raw[1:-1].split(" ") if s.strip())
        return Clause("or" if head == "{" else "and", items)
    return Clause("exact", (raw[1:] if raw.startswith("\\") else raw,))


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def clause_matches(clause: Clause, value: Any) -> bool:
    """Whether a stored column ``value`` satisfies ``clause`` (fuzzy: case-insensitive)."""
    text = _as_text(value)
    if clause.kind == "exact":
        return text == _as_text(clause.values[0])
    if clause.kind == "fuzzy":
        return str(clause.values[0]).lower() in text.lower()
    if clause.kind == "or":
        return any(text == _as_text(v) for v in clause.values)
    if clause.kind == "and":
        return all(text == _as_text(v) for v in clause.values)
    low, high = clause.values
    comparable: Any = value if isinstance(value, int) and not isinstance(value, bool) else text
    try:
        return (low is None or comparable >= low) and (high is None or comparable <= high)
    except TypeError:
        return (low is None or text >= str(low)) and (high is None or text <= str(high))


def filter_rows(rows: list[dict[str, Any]], clauses: dict[str, Clause]) -> list[dict[str, Any]]:
    """Rows matching every clause; keys a row does not have are ignored, like Harbor's ORM."""
    out = []
    for row in rows:
        if all(key not in row or clause_matches(c, row[key]) for key, c in clauses.items()):
            out.append(row)
    return out


def sort_rows(rows: list[dict[str, Any]], sort: str | None, default: str) -> list[dict[str, Any]]:
    """``sort=f1,-f2`` (§1); unknown fields are ignored."""
    keys = [k for k in (sort or default).split(",") if k]
    for key in reversed(keys):
        desc = key.startswith("-")
        field = key.lstrip("-")

        def key_of(row: dict[str, Any], name: str = field) -> tuple[bool, Any]:
            return (row.get(name) is None, _sort_key(row.get(name)))

        rows = sorted(rows, key=key_of, reverse=desc)
    return rows


def _sort_key(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return (0, value, "")
    return (1, 0, str(value))


# -- paging (§1, H:src/server/v2.0/handler/base.go Links, src/lib/link.go) ---------------------
def parse_paging(query: dict[str, list[str]]) -> tuple[int, int]:
    """``page`` (default 1) and ``page_size`` (default 10, max 100) as go-swagger binds them."""
    errors: list[str] = []
    values: dict[str, int] = {}
    for name, default in (("page", 1), ("page_size", 10)):
        raw = query.get(name, [None])[0]
        if raw is None or raw == "":
            values[name] = default
            continue
        try:
            values[name] = int(raw)
        except ValueError:
            errors.append(f"{name} in query must be of type int64: {raw!r}")
            values[name] = default
    if values["page_size"] > 100:
        errors.append("page_size in query should be less than or equal to 100")
    if errors:
        raise swagger_error(422, *errors)
    return values["page"], values["page_size"]


def paginate(rows: list[Any], page: int, page_size: int) -> list[Any]:
    """The ORM's LIMIT/OFFSET: no limit when page_size <= 0, no offset when page <= 0."""
    if page_size <= 0:
        return rows
    start = page_size * (page - 1) if page > 0 else 0
    return rows[start:start + page_size]


def link_header(path: str, query: dict[str, list[str]], total: int, page: int,
                page_size: int) -> str:
    """``<path?...page=N...>; rel="prev" , <...>; rel="next"`` exactly as Harbor builds it.

    Go re-encodes the query with sorted keys, then un-escapes it; links are joined with " , ".
    """
    if page_size == 0:
        return ""
    links: list[str] = []

    def url_for(target: int) -> str:
        values = {k: list(v) for k, v in query.items()}
        values["page"] = [str(target)]
        values["page_size"] = [str(page_size)]
        encoded = "&".join(f"{quote_plus(k)}={quote_plus(v)}"
                           for k in sorted(values) for v in values[k])
        return f"{path}?{unquote_plus(encoded)}"

    if page > 1 and (page - 1) * page_size < total:
        links.append(f'<{url_for(page - 1)}>; rel="prev"')
    if page_size * page < total:
        links.append(f'<{url_for(page + 1)}>; rel="next"')
    return " , ".join(links)


def list_response(path: str, query: dict[str, list[str]], rows: list[Any], total: int,
                  page: int, page_size: int) -> Response:
    """200 array + ``X-Total-Count`` and, when non-empty, ``Link``."""
    headers = {"X-Total-Count": str(total)}
    link = link_header(path, query, total, page, page_size)
    if link:
        headers["Link"] = link
    return json_response(rows, headers=headers)
