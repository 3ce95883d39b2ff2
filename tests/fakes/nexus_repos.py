"""Repositories and blob stores of the fake Nexus: records, the rules Nexus enforces, GET views.

The HTTP handlers that apply them are in :mod:`tests.fakes.nexus_repos_api`.

Behaviours (sections of shared/reference/nexus.md, "NP" = sonatype/nexus-public source):
- create 201 with an empty body and no Location; update 204; delete 204; PUT on a missing
  repository 404, never an upsert (§4, NP ``AuthorizingRepositoryManagerImpl.update``);
- duplicate name, compared ignoring case -> 400 (§4). The body is a ValidationErrorXO list
  ``[{"id":"PARAMETER name","message":"Name is already used, must be unique (ignoring case)"}]``
  (observed on a live 3.96.1) or, with ``duplicate_error="string"``, a bare JSON string like the
  OrientDB-era duplicate-key text (§4, terraform-provider-nexus#107). Clients must not parse it;
- GET on a format path filters on format *and* type: a group under ``docker/proxy/{name}`` is 404
  (§4, last bullet); ``GET /v1/repositories/{name}`` finds any format;
- unknown blob store -> 400 ``"Blob store not found"``; changing a repository's blob store -> 400
  ``"You cannot change a repository’s blob store through the API"``; renaming via PUT -> 400
  ``"Renaming a repository is not supported"`` (§4; NP ``AbstractRepositoriesApiResource``);
- group members must exist and share the group's format -> 400 list, id ``memberNames``; a
  ``writableMember`` is Pro-only -> 400 list (NP ``AbstractGroupRepositoriesApiResource``);
- Docker ``httpPort``/``httpsPort`` unique across repositories (§6 step 5);
- ``useTrustStore`` with a non-HTTPS remote -> 400 string (NP proxy request converter);
- deleting a repository removes it from every group (§3, DELETE row);
- GET never returns ``httpClient.authentication.password``/``bearerToken`` (write-only, §3).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.base import Response
from tests.fakes.nexus_wire import empty, json_response, message_error, validation_error

# format segment of the REST path -> (format value Nexus reports, attribute block of that format)
FORMATS: dict[str, tuple[str, str]] = {"docker": ("docker", "docker"), "maven": ("maven2", "maven")}
TYPES = ("proxy", "hosted", "group")

DUPLICATE_MESSAGE = "Name is already used, must be unique (ignoring case)"
BLOBSTORE_NOT_FOUND = "Blob store not found"
BLOBSTORE_CHANGE_NOT_ALLOWED = "You cannot change a repository\u2019s blob store through the API"
RENAME_NOT_SUPPORTED = "Renaming a repository is not supported"
REPOSITORY_NOT_FOUND = "Repository not found"
TRUSTSTORE_NEEDS_HTTPS = "TrustStore is available only with HTTPS remote URLs"
INSUFFICIENT_LICENSE = "Deploying to groups is a PRO-licensed feature. See https://links.sonatype.com/product-nexus-repository"


@dataclass
class RepoRecord:
    """One stored repository: the last accepted request body (password included) plus its kind.

    ``path_format`` is the REST path segment (``docker``, ``maven``); ``format`` is what Nexus
    reports (``docker``, ``maven2``).
    """

    name: str
    path_format: str
    type: str
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def format(self) -> str:
        return FORMATS[self.path_format][0]


class RepoRejected(Exception):
    """Raised inside a repository operation; carries the Nexus-shaped error response."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


# -- request bodies (spec-valid, for planting state and for tests) -----------------------------


def docker_proxy_body(name: str, remote_url: str, **overrides: Any) -> dict[str, Any]:
    """A spec-valid DockerProxyRepositoryApiRequest; top-level keys in ``overrides`` replace."""
    body: dict[str, Any] = {
        "name": name,
        "online": True,
        "storage": {"blobStoreName": "default", "strictContentTypeValidation": True},
        "proxy": {"remoteUrl": remote_url, "contentMaxAge": 1440, "metadataMaxAge": 1440},
        "negativeCache": {"enabled": True, "timeToLive": 1440},
        "httpClient": {"blocked": False, "autoBlock": True},
        "docker": {"v1Enabled": False, "forceBasicAuth": False},
        "dockerProxy": {"indexType": "REGISTRY"},
    }
    body.update(overrides)
    return body


def docker_group_body(name: str, members: list[str], **overrides: Any) -> dict[str, Any]:
    """A spec-valid DockerGroupRepositoryApiRequest with ``members`` in order."""
    body: dict[str, Any] = {
        "name": name,
        "online": True,
        "storage": {"blobStoreName": "default", "strictContentTypeValidation": True},
        "group": {"memberNames": list(members)},
        "docker": {"v1Enabled": False, "forceBasicAuth": False},
    }
    body.update(overrides)
    return body


def maven_proxy_body(name: str, remote_url: str, **overrides: Any) -> dict[str, Any]:
    """A spec-valid MavenProxyRepositoryApiRequest."""
    body: dict[str, Any] = {
        "name": name,
        "online": True,
        "storage": {"blobStoreName": "default", "strictContentTypeValidation": True},
        "proxy": {"remoteUrl": remote_url, "contentMaxAge": -1, "metadataMaxAge": 1440},
        "negativeCache": {"enabled": True, "timeToLive": 1440},
        "httpClient": {"blocked": False, "autoBlock": True},
        "maven": {
            "versionPolicy": "RELEASE",
            "layoutPolicy": "PERMISSIVE",
            "contentDisposition": "INLINE",
        },
    }
    body.update(overrides)
    return body


def maven_hosted_body(
    name: str, write_policy: str = "allow_once", **overrides: Any
) -> dict[str, Any]:
    """A spec-valid MavenHostedRepositoryApiRequest."""
    body: dict[str, Any] = {
        "name": name,
        "online": True,
        "storage": {
            "blobStoreName": "default",
            "strictContentTypeValidation": True,
            "writePolicy": write_policy,
        },
        "maven": {
            "versionPolicy": "RELEASE",
            "layoutPolicy": "STRICT",
            "contentDisposition": "INLINE",
        },
    }
    body.update(overrides)
    return body


def default_repositories() -> list[RepoRecord]:
    """What a fresh Nexus CE ships: maven-central, maven-releases, maven-snapshots, maven-public.

    Their stored write policies are upper case, as Nexus's own configuration holds them; the GET
    views echo that, outside the spec's lower-case enum (a known response/spec mismatch).
    """
    snapshots = maven_hosted_body("maven-snapshots", "ALLOW")
    snapshots["maven"] = {
        "versionPolicy": "SNAPSHOT",
        "layoutPolicy": "STRICT",
        "contentDisposition": "INLINE",
    }
    return [
        RepoRecord(
            "maven-central",
            "maven",
            "proxy",
            maven_proxy_body("maven-central", "https://repo1.maven.org/maven2/"),
        ),
        RepoRecord(
            "maven-releases", "maven", "hosted", maven_hosted_body("maven-releases", "ALLOW_ONCE")
        ),
        RepoRecord("maven-snapshots", "maven", "hosted", snapshots),
        RepoRecord(
            "maven-public",
            "maven",
            "group",
            {
                "name": "maven-public",
                "online": True,
                "storage": {"blobStoreName": "default", "strictContentTypeValidation": True},
                "group": {"memberNames": ["maven-releases", "maven-snapshots", "maven-central"]},
            },
        ),
    ]


# -- GET views ---------------------------------------------------------------------------------


def render(record: RepoRecord, base_url: str, extra_fields: bool) -> dict[str, Any]:
    """The format-path GET view of ``record``, shaped like NP ``SimpleApiRepositoryAdapter``.

    Unset optional values come back as JSON null (Nexus serialises nulls). With ``extra_fields``
    the view also carries fields newer releases added (``firewall``,
    ``proxy.preserveEncodedCharacters``, both 3.94), to prove clients ignore unknown fields.
    """
    body = record.body
    storage = body.get("storage") or {}
    view: dict[str, Any] = {
        "name": record.name,
        "format": record.format,
        "type": record.type,
        "url": f"{base_url}/repository/{record.name}",
        "online": body.get("online", True),
    }
    view_storage: dict[str, Any] = {
        "blobStoreName": storage.get("blobStoreName"),
        "strictContentTypeValidation": storage.get("strictContentTypeValidation", True),
    }
    if record.type == "hosted":
        view_storage["writePolicy"] = storage.get("writePolicy") or "ALLOW"
        if "latestPolicy" in storage:
            view_storage["latestPolicy"] = storage["latestPolicy"]
    view["storage"] = view_storage
    if record.type in ("proxy", "hosted"):
        cleanup = body.get("cleanup")
        # Stored as a set by Nexus: order is not kept, so it comes back sorted here.
        view["cleanup"] = (
            None if cleanup is None else {"policyNames": sorted(cleanup.get("policyNames") or [])}
        )
    if record.type == "proxy":
        view.update(_proxy_view(body, extra_fields))
    if record.type == "hosted":
        view["component"] = {
            "proprietaryComponents": (body.get("component") or {}).get(
                "proprietaryComponents", False
            )
        }
    if record.type == "group":
        group = body.get("group") or {}
        view["group"] = {"memberNames": list(group.get("memberNames") or [])}
        if record.path_format == "docker":
            view["group"]["writableMember"] = group.get("writableMember")
    fmt_key = FORMATS[record.path_format][1]
    if record.path_format == "docker":
        docker = body.get("docker") or {}
        view["docker"] = {
            "v1Enabled": docker.get("v1Enabled", False),
            "forceBasicAuth": docker.get("forceBasicAuth", True),
            "httpPort": docker.get("httpPort"),
            "httpsPort": docker.get("httpsPort"),
            "subdomain": docker.get("subdomain"),
            "pathEnabled": docker.get("pathEnabled", False),
        }
        if record.type == "proxy":
            dp = body.get("dockerProxy") or {}
            view["dockerProxy"] = {
                "indexType": dp.get("indexType", "REGISTRY"),
                "indexUrl": dp.get("indexUrl"),
                "cacheForeignLayers": dp.get("cacheForeignLayers", False),
                "foreignLayerUrlWhitelist": list(dp.get("foreignLayerUrlWhitelist") or []),
            }
    elif fmt_key in body:
        view[fmt_key] = copy.deepcopy(body[fmt_key])
    if extra_fields:
        view["firewall"] = {"mode": "DISABLED"}
    return view


def _proxy_view(body: dict[str, Any], extra_fields: bool) -> dict[str, Any]:
    proxy = body.get("proxy") or {}
    negative = body.get("negativeCache") or {}
    http = body.get("httpClient") or {}
    conn = http.get("connection") or {}
    auth = http.get("authentication")
    view_proxy: dict[str, Any] = {
        "remoteUrl": proxy.get("remoteUrl"),
        "contentMaxAge": proxy.get("contentMaxAge", 1440),
        "metadataMaxAge": proxy.get("metadataMaxAge", 1440),
    }
    if extra_fields:
        view_proxy["preserveEncodedCharacters"] = False
    return {
        "proxy": view_proxy,
        "negativeCache": {
            "enabled": negative.get("enabled", True),
            "timeToLive": negative.get("timeToLive", 1440),
        },
        "httpClient": {
            "blocked": http.get("blocked", False),
            "autoBlock": http.get("autoBlock", False),
            # The converter always creates the connection child, so it is never null on GET.
            "connection": {
                "retries": conn.get("retries"),
                "userAgentSuffix": conn.get("userAgentSuffix"),
                "timeout": conn.get("timeout"),
                "enableCircularRedirects": conn.get("enableCircularRedirects", False),
                "enableCookies": conn.get("enableCookies", False),
                "useTrustStore": conn.get("useTrustStore", False),
            },
            "authentication": _auth_view(auth),
        },
        "routingRuleName": None,  # no routing rules exist; an unknown rule name is silently dropped
        "replication": None,
    }


def _auth_view(auth: dict[str, Any] | None) -> dict[str, Any] | None:
    # Write-only secrets (password, bearerToken) are never echoed (nexus.md §3, httpClient).
    if auth is None:
        return None
    keys = ("type", "username", "ntlmHost", "ntlmDomain")
    return {key: auth.get(key) for key in keys}


def repository_xo(record: RepoRecord, base_url: str, extra_fields: bool) -> dict[str, Any]:
    """The RepositoryXO of ``GET /v1/repositories[/{name}]``: only proxies carry attributes."""
    attributes: dict[str, Any] = {}
    if record.type == "proxy":
        attributes = {"proxy": {"remoteUrl": (record.body.get("proxy") or {}).get("remoteUrl")}}
    xo: dict[str, Any] = {
        "name": record.name,
        "format": record.format,
        "type": record.type,
        "url": f"{base_url}/repository/{record.name}",
        "attributes": attributes,
    }
    if extra_fields:
        xo["online"] = record.body.get("online", True)  # added to RepositoryXO in 3.94
    return xo


# -- rules -------------------------------------------------------------------------------------


def group_violations(
    body: dict[str, Any], fmt: str, repos: dict[str, RepoRecord]
) -> list[tuple[str, str]]:
    """Member and writable-member violations for a group request of REST format ``fmt``."""
    group = body.get("group") or {}
    found: list[tuple[str, str]] = []
    for member in group.get("memberNames") or []:
        existing = repos.get(member)
        if existing is None:
            found.append(("memberNames", f"Member repository does not exist: {member}"))
        elif existing.path_format != fmt:
            found.append(
                (
                    "memberNames",
                    f"Member repository format does not match group repository format: {member}",
                )
            )
    if group.get("writableMember"):
        found.append(("writableMember", INSUFFICIENT_LICENSE))  # CE has no group deployment
    return found


def check_connection(body: dict[str, Any]) -> None:
    """Reject ``useTrustStore`` on a non-HTTPS remote, as the NP request converter does."""
    conn = (body.get("httpClient") or {}).get("connection") or {}
    remote = (body.get("proxy") or {}).get("remoteUrl") or ""
    if conn.get("useTrustStore") is True and not remote.startswith("https"):
        raise RepoRejected(message_error(TRUSTSTORE_NEEDS_HTTPS))


def check_docker(body: dict[str, Any], name: str, repos: dict[str, RepoRecord]) -> None:
    """Connector ports unique across Docker repositories; CUSTOM index needs an indexUrl."""
    docker = body.get("docker") or {}
    for key in ("httpPort", "httpsPort"):
        port = docker.get(key)
        if port is None:
            continue
        for other in repos.values():
            if other.name == name or other.path_format != "docker":
                continue
            other_docker = other.body.get("docker") or {}
            if port in (other_docker.get("httpPort"), other_docker.get("httpsPort")):
                raise RepoRejected(
                    validation_error(
                        (
                            f"docker.{key}",
                            f"Port {port} is already in use by repository {other.name}",
                        )
                    )
                )
    dp = body.get("dockerProxy")
    if dp is not None and dp.get("indexType") == "CUSTOM" and not dp.get("indexUrl"):
        raise RepoRejected(
            validation_error(("dockerProxy.indexUrl", "Index URL is required for a CUSTOM index"))
        )


def check_cleanup(body: dict[str, Any], policies: set[str]) -> None:
    """A cleanup policy named by a repository must exist (observed on a live 3.96.1)."""
    for policy in (body.get("cleanup") or {}).get("policyNames") or []:
        if policy not in policies:
            raise RepoRejected(message_error(f"Cleanup policy not found: {policy}"))


# -- blob store views --------------------------------------------------------------------------


def blobstore_summary(
    name: str, store: dict[str, Any], repos: dict[str, RepoRecord]
) -> dict[str, Any]:
    """One GenericBlobStoreApiResponse item of ``GET /v1/blobstores``."""
    users = sum(
        1 for r in repos.values() if (r.body.get("storage") or {}).get("blobStoreName") == name
    )
    return {
        "softQuota": copy.deepcopy(store.get("softQuota")),
        "name": name,
        "type": "File",
        "unavailable": False,
        "blobCount": users * 3,  # any plausible number; content is not modelled
        "totalSizeInBytes": users * 4096,
        "availableSpaceInBytes": 53_687_091_200,
    }


def not_found() -> Response:
    """The 404 of a repository GET: a JSON string literal."""
    return message_error(REPOSITORY_NOT_FOUND, 404)


def created() -> Response:
    """201 with an empty body and no Location header (NP ``createRepository``)."""
    return empty(201)


def ok(payload: Any) -> Response:
    """200 with a JSON body."""
    return json_response(payload)


def no_content() -> Response:
    """204, the status of every successful update and delete."""
    return empty(204)
