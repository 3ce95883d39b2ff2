"""The errors a user can cause or meet, each rendered as one line at the CLI edge.

::

    ProvisionerError                 one clear line, exit 1
    ├── ProfileError                 the profile is invalid (file:line, field, what was expected)
    ├── ApiError                     an HTTP call failed (method, URL, status, hint)
    │   ├── Unreachable              DNS, connect, TLS or timeout: no HTTP answer at all
    │   ├── BadResponse              an answer we cannot use (HTML, truncated JSON, wrong shape)
    │   └── HttpStatusError          an HTTP error status
    │       ├── Unauthorized         401/403
    │       ├── NotFound             404
    │       ├── Conflict             409
    │       ├── RateLimited          429
    │       └── ServerError          5xx
    ├── PlanError                    the desired state cannot be reached (name taken, upstream down)
    └── ConvergenceError             apply finished but a re-plan still shows changes
"""

from __future__ import annotations


class ProvisionerError(Exception):
    """Base of every error a user may see: ``str(err)`` is the whole line, ``hint`` optional."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} (hint: {self.hint})"


def one_line(text: str) -> str:
    """``text`` with line breaks and other invisible characters escaped (``\\n``, ``\\x85``).

    Error lines quote what the user wrote (a mapping key, a ``${VAR:?message}``); a key such as
    ``"a\\nb"`` must not split the one error line into two.
    """
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class ProfileError(ProvisionerError):
    """The profile cannot be loaded or validated. ``location`` is ``file:line`` when known."""

    def __init__(self, message: str, location: str | None = None, field: str | None = None) -> None:
        parts = [one_line(p) for p in (location, field) if p]
        prefix = ": ".join(parts)
        message = one_line(message)
        super().__init__(f"{prefix}: {message}" if prefix else message)
        self.location = location
        self.field = field


class ApiError(ProvisionerError):
    """An HTTP request failed. Never carries a request body or an Authorization header."""

    def __init__(
        self,
        message: str,
        *,
        method: str = "",
        url: str = "",
        status: int | None = None,
        hint: str | None = None,
    ) -> None:
        where = f"{method} {url}".strip()
        status_text = f" -> {status}" if status is not None else ""
        super().__init__(f"{where}{status_text}: {message}" if where else message, hint)
        self.method = method
        self.url = url
        self.status = status


class Unreachable(ApiError):
    """No HTTP answer: name resolution, connection, TLS handshake or timeout failed."""


class BadResponse(ApiError):
    """The server answered, but not with something this tool can use."""


class HttpStatusError(ApiError):
    """The server answered with an error status."""


class Unauthorized(HttpStatusError):
    """401 or 403: wrong credentials or missing permission."""


class NotFound(HttpStatusError):
    """404."""


class Conflict(HttpStatusError):
    """409, or a server's own way of saying "already exists"."""


class RateLimited(HttpStatusError):
    """429 after the retries allowed by ``Retry-After`` ran out."""


class ServerError(HttpStatusError):
    """5xx after retries (for idempotent methods) ran out."""


class PlanError(ProvisionerError):
    """The desired state cannot be planned or reached as asked."""


class ConvergenceError(ProvisionerError):
    """Apply ran every change, but reading back still differs from the profile."""
