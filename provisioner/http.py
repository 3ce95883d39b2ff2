"""The HTTP edge shared by every backend client: sessions, retries, TLS, typed errors.

- Retries live on the Session (urllib3 ``Retry``): connection failures and 429/502/503/504 are
  retried with backoff for idempotent methods only, honouring ``Retry-After`` (capped). A POST
  is never retried blindly: the caller reads back and re-plans instead.
- ``verify`` is passed on every request, because ``REQUESTS_CA_BUNDLE`` would otherwise override
  a profile's ``ca_file`` or ``insecure: true`` (psf/requests#3829).
- Every failure becomes a typed :class:`~provisioner.errors.ApiError` carrying method, URL,
  status and a short excerpt of the body; request bodies and the Authorization header never
  appear in an error or a log line.
"""

from __future__ import annotations

import logging
import time
import uuid
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.cookiejar import DefaultCookiePolicy
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.exceptions import InsecureRequestWarning
from urllib3.util.retry import Retry

from provisioner.errors import (
    ApiError,
    BadResponse,
    Conflict,
    HttpStatusError,
    NotFound,
    RateLimited,
    ServerError,
    Unauthorized,
    Unreachable,
)

log = logging.getLogger(__name__)

IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
RETRY_STATUSES = frozenset({429, 502, 503, 504})
EXCERPT = 160
MAX_BODY = 64 * 2**20  # no API answer of these servers comes near; a stream that never ends does
_warned_insecure: set[str] = set()


@dataclass(frozen=True)
class Tls:
    """TLS choice of one server: verify against the system CAs, a ``ca_file``, or not at all."""

    insecure: bool = False
    ca_file: Path | None = None

    @property
    def verify(self) -> bool | str:
        if self.insecure:
            return False
        return str(self.ca_file) if self.ca_file is not None else True


def warn_insecure(name: str, url: str) -> None:
    """Warn once per server that TLS verification is off, and silence urllib3's own warning,
    which would otherwise repeat on every request.

    The filter is process-wide, added when an insecure client is made (``filterwarnings``
    keeps no duplicates): ``warnings.catch_warnings()`` around each request is not thread-safe
    (it swaps the global filter list) and requests run on many threads at once.
    """
    warnings.filterwarnings("ignore", category=InsecureRequestWarning)  # no duplicates kept
    if url.startswith("https://") and url not in _warned_insecure:
        _warned_insecure.add(url)
        log.warning("%s: TLS verification is OFF for %s (insecure: true)", name, url)


class _Retry(Retry):
    """urllib3 Retry that also retries a 429 on non-idempotent methods.

    A 429 means the server refused to process the request, so sending a POST again cannot
    create a duplicate; any other failed POST is left to the caller (read back, re-plan).
    """

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if status_code == 429 and self.total:
            return True
        return super().is_retry(method, status_code, has_retry_after)


# Connections kept open per server: at least the CLI's largest --parallelism. A smaller pool
# makes urllib3 close every connection beyond it after its request, so a wide apply opens a new
# TCP (and TLS) connection per request: extra round trips to a far server, and a burst of
# connects that can overflow the server's listen backlog (SYN retried after 1 s).
POOL_SIZE = 64


class _Session(requests.Session):
    """A Session that reads the proxy and CA-bundle environment once per server and settings.

    requests looks ``HTTP(S)_PROXY``, ``NO_PROXY`` and ``REQUESTS_CA_BUNDLE`` up again on every
    request (two scans of ``os.environ`` and a no_proxy match): about a third of the client's
    CPU per request. The environment does not change during a run, so the answer is kept.
    """

    def __init__(self) -> None:
        super().__init__()
        self._environment: dict[tuple[Any, ...], Any] = {}

    def merge_environment_settings(
        self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> Any:
        parts = urlsplit(str(url))
        key = (parts.scheme, parts.netloc, tuple(sorted((proxies or {}).items())),
               stream, verify, cert)
        settings = self._environment.get(key)
        if settings is None:
            settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
            self._environment[key] = settings
        return {**settings, "proxies": dict(settings["proxies"])}


def make_session(
    retries: int = 3, backoff: float = 0.3, pool: int = POOL_SIZE, cookies: bool = True
) -> requests.Session:
    """A Session with bounded retries for idempotent methods and a connection pool of ``pool``.

    ``cookies=False`` refuses every cookie: Harbor answers a returned ``sid`` cookie with a CSRF
    403 on writes, and no backend here needs a session cookie.
    """
    session = _Session()
    retry = _Retry(
        total=retries,
        connect=retries,
        read=1,
        other=0,  # an SSLError (untrusted certificate) is not transient: no retry
        status=retries,
        backoff_factor=backoff,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=IDEMPOTENT,
        respect_retry_after_header=True,
        retry_after_max=30,
        raise_on_status=False,
        raise_on_redirect=False,
    )
    adapter = HTTPAdapter(max_retries=retry, pool_connections=pool, pool_maxsize=pool)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    if not cookies:
        session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    return session


ErrorMessage = Callable[[requests.Response], str | None]


class HttpClient:
    """Requests against one server root, with typed errors.

    ``error_message`` extracts a server's own error text from a failed response (each API has
    its own error body); ``hint_for`` adds a hint by status. Subclasses add the API's calls.
    """

    def __init__(
        self,
        base_url: str,
        *,
        auth: tuple[str, str] | None = None,
        tls: Tls = Tls(),
        timeout: float = 10.0,
        session: requests.Session | None = None,
        headers: Mapping[str, str] | None = None,
        name: str = "server",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.tls = tls
        self.timeout = timeout
        self.session = session or make_session()
        self.headers = dict(headers or {})
        self.name = name
        if tls.insecure:
            warn_insecure(name, base_url)

    def error_message(self, response: requests.Response) -> str | None:
        """The server's error text from a failed response, or None to use the body excerpt."""
        return None

    def hint_for(self, status: int) -> str | None:
        if status in (401, 403):
            return f"check the username and password of {self.name}"
        return None

    deadline_floor = 30.0  # a whole answer may take max(this, 3 x timeout) seconds

    def _tls_hint(self, reason: str) -> str:
        if "not valid for this host" in reason:
            return "use the host name the certificate was issued for in the url"
        if self.tls.ca_file is not None:
            return f"is {self.tls.ca_file} the CA that signed this server's certificate?"
        return "set ca_file to the server's CA, or insecure: true to skip checks"

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: str | bytes | None = None,
        headers: Mapping[str, str] | None = None,
        ok: tuple[int, ...] = (200, 201, 202, 204),
        allow: tuple[int, ...] = (),
        auth: tuple[str, str] | None | bool = True,
        timeout: float | None = None,
    ) -> requests.Response:
        """Send one request. Statuses in ``ok`` or ``allow`` return; others raise typed errors.

        ``auth=True`` uses the client's credentials, ``None``/``False`` sends none, a tuple
        overrides them (bootstrap logins).
        """
        url = self.url(path)
        send_headers = {"X-Request-Id": uuid.uuid4().hex, **self.headers, **(headers or {})}
        credentials = self.auth if auth is True else (auth or None)
        started = time.monotonic()
        try:
            # InsecureRequestWarning is filtered once by warn_insecure (see there).
            response = self.session.request(
                method,
                url,
                params=params,
                json=json,
                data=data,
                headers=send_headers,
                auth=credentials,
                timeout=timeout or self.timeout,
                verify=self.tls.verify,
                allow_redirects=method in ("GET", "HEAD"),
                stream=True,  # the body is read below, under a deadline and a size cap
            )
            self._read_body(response, method, url, started + max(
                self.deadline_floor, 3 * (timeout or self.timeout)))
        except requests.exceptions.SSLError as exc:
            reason = _reason(exc, "TLS handshake failed")
            raise Unreachable(reason, method=method, url=url, hint=self._tls_hint(reason)) from None
        except requests.exceptions.Timeout:
            raise Unreachable(
                f"no answer within {timeout or self.timeout:g}s", method=method, url=url
            ) from None
        except requests.exceptions.TooManyRedirects:
            raise BadResponse("redirect loop", method=method, url=url) from None
        except requests.exceptions.RetryError as exc:
            raise ServerError(
                _reason(exc, "still failing after retries"), method=method, url=url
            ) from None
        except requests.exceptions.ConnectionError as exc:
            reason = _reason(exc, "cannot connect")
            if reason == "timed out":  # read timeouts that used up the retries land here
                reason = f"no answer within {timeout or self.timeout:g}s"
            reached = reason.startswith(("the answer", "server closed", "no answer"))
            hint = f"is {self.name} running and reachable at {self.base_url}?"
            raise Unreachable(reason, method=method, url=url,
                              hint=None if reached else hint) from None
        except requests.exceptions.RequestException as exc:
            raise Unreachable(_reason(exc, "request failed"), method=method, url=url) from None
        except OSError as exc:  # requests raises a bare OSError for a ca_file that is missing
            if self.tls.ca_file is None or "CA certificate bundle" not in str(exc):
                raise
            raise Unreachable(f"ca_file {self.tls.ca_file} does not exist", method=method,
                              url=url, hint="point ca_file at the server's CA (PEM)") from None
        log.debug(
            "%s %s -> %s (%.0f ms)",
            method,
            url,
            response.status_code,
            (time.monotonic() - started) * 1000,
        )
        if response.status_code in ok or response.status_code in allow:
            return response
        raise self._status_error(method, url, response)

    def _read_body(self, response: requests.Response, method: str, url: str,
                   deadline: float) -> None:
        """Read the whole body by ``deadline`` and at most :data:`MAX_BODY` bytes.

        ``timeout`` bounds each read only: a server that trickles a byte per second, or
        streams forever, would otherwise hold the run for hours.
        """
        chunks: list[bytes] = []
        size = 0
        # read1 returns whatever has arrived; read(n) (iter_content) waits for n bytes, which
        # a trickling server makes last forever between two deadline checks.
        raw = response.raw
        while chunk := _read1(raw):
            size += len(chunk)
            if size > MAX_BODY:
                response.close()
                raise BadResponse(f"the answer is larger than {MAX_BODY // 2**20} MB",
                                  method=method, url=url, status=response.status_code)
            if time.monotonic() > deadline:
                response.close()
                raise Unreachable("the answer did not complete in time (a stalled or trickling "
                                  "server?)", method=method, url=url)
            chunks.append(chunk)
        response._content = b"".join(chunks)

    def _status_error(self, method: str, url: str, response: requests.Response) -> HttpStatusError:
        status = response.status_code
        message = self.error_message(response) or describe_body(response)
        cls: type[HttpStatusError] = STATUS_ERRORS.get(status) or (
            ServerError if status >= 500 else HttpStatusError
        )
        return cls(message, method=method, url=url, status=status, hint=self.hint_for(status))

    def json(self, response: requests.Response, method: str = "GET") -> Any:
        """The JSON body, or BadResponse naming what came instead (HTML, truncated, empty)."""
        try:
            return response.json()
        except ValueError:
            raise BadResponse(
                f"expected JSON, got {describe_body(response)}",
                method=method,
                url=response.url,
                status=response.status_code,
            ) from None


def _read1(raw: Any) -> bytes:
    """One ``read1`` of the body, with urllib3's errors raised as requests' (as iter_content
    does), so :meth:`HttpClient.request` maps them like every other transport failure."""
    try:
        return bytes(raw.read1(64 * 1024, decode_content=True))
    except urllib3.exceptions.ReadTimeoutError as exc:
        raise requests.exceptions.ReadTimeout(exc) from None
    except urllib3.exceptions.SSLError as exc:
        raise requests.exceptions.SSLError(exc) from None
    except urllib3.exceptions.DecodeError as exc:
        raise requests.exceptions.ContentDecodingError(exc) from None
    except urllib3.exceptions.HTTPError as exc:  # ProtocolError: reset, cut off
        raise requests.exceptions.ChunkedEncodingError(exc) from None


STATUS_ERRORS: dict[int, type[HttpStatusError]] = {
    401: Unauthorized,
    403: Unauthorized,
    404: NotFound,
    409: Conflict,
    429: RateLimited,
}


def describe_body(response: requests.Response) -> str:
    """A short, safe description of a response body for an error line."""
    text = (response.text or "").strip()
    if not text:
        return "empty body"
    content_type = response.headers.get("Content-Type", "")
    if "html" in content_type or text.lower().startswith(("<!doctype", "<html")):
        title = (
            text.lower().split("<title>", 1)[-1].split("</title>", 1)[0]
            if "<title>" in text.lower()
            else ""
        )
        return f"an HTML page{f' ({title.strip()})' if title else ''} instead of an API answer"
    one_line = " ".join(text.split())
    return one_line[:EXCERPT] + ("..." if len(one_line) > EXCERPT else "")


def _reason(exc: Exception, fallback: str) -> str:
    """The innermost cause of a requests exception, without URLs (which the caller adds)."""
    text = str(exc)
    for marker in (
        "Name or service not known",
        "nodename nor servname",
        "Temporary failure in name resolution",
    ):
        if marker in text:
            return "DNS lookup failed"
    if "Connection refused" in text:
        return "connection refused"
    if "Connection reset" in text or "ConnectionResetError" in text:
        return "connection reset"
    if "mismatch, certificate is not valid for" in text:
        return "TLS certificate is not valid for this host name or address"
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return "TLS certificate not trusted"
    if "NO_CERTIFICATE_OR_CRL_FOUND" in text or "PEM lib" in text:
        return "ca_file holds no PEM certificate"
    if "IncompleteRead" in text or "InvalidChunkLength" in text:
        return "the answer was cut off before its end"
    if "BadStatusLine" in text:
        return "the answer is not HTTP (is this the right port?)"
    if "RemoteDisconnected" in text or "closed connection without response" in text:
        return "server closed the connection without answering"
    if "timed out" in text.lower():
        return "timed out"
    if "too many" in text.lower() and "error responses" in text.lower():
        return "still failing after retries (" + text.rsplit("(Caused by", 1)[-1].strip(" )") + ")"
    return fallback


__all__ = ["ApiError", "HttpClient", "Tls", "describe_body", "make_session", "warn_insecure"]
