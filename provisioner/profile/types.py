"""Small value types shared by the profile models: names, URLs, durations, addresses, secrets.

Each is an ``Annotated`` type whose validator normalises the value, so two spellings of the same
thing (``https://x/`` and ``https://x``, ``90s`` and ``1m30s``) compare equal after loading.
"""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainSerializer,
    SecretStr,
    WithJsonSchema,
)

NAME_PATTERN = r"^[a-z0-9][a-z0-9-]*$"
Name = Annotated[
    str,
    Field(pattern=NAME_PATTERN, max_length=63, description="lower-case [a-z0-9][a-z0-9-]*"),
]


def normalise_url(value: str) -> str:
    """Check an http(s) URL and return it without a trailing slash.

    Raises ValueError for a missing scheme, another scheme, no host, a query or a fragment.
    """
    if not isinstance(value, str):
        raise ValueError("expected a URL string such as https://registry.example.com")
    text = value.strip()
    if any(c.isspace() or not c.isprintable() for c in text):
        # urlsplit would silently drop a newline or tab and keep a blank in the host.
        raise ValueError(f"a URL takes no blanks or control characters, got {value!r}")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
    if not parts.hostname:
        raise ValueError(f"expected a host in the URL, got {value!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"a URL here takes no query or fragment, got {value!r}")
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ValueError(f"bad port in URL {value!r}") from None
    return f"{parts.scheme}://{parts.netloc.lower()}{parts.path}".rstrip("/")


Url = Annotated[
    str,
    AfterValidator(normalise_url),
    WithJsonSchema({"type": "string", "pattern": "^(https?://|\\$\\{)",
                    "description": "http(s) URL, or ${VAR} interpolation"}),
]

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: Any) -> float:
    """Seconds from ``30s``, ``1m30s``, ``250ms``, ``2h`` or a bare number of seconds (> 0)."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 1m or 250ms")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        pos, seconds = 0, 0.0
        for match in _DURATION_PART.finditer(text):
            if match.start() != pos:
                break
            seconds += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
            pos = match.end()
        if pos != len(text):
            raise ValueError(f"expected a duration such as 30s, 1m or 250ms, got {value!r}")
    else:
        raise ValueError("expected a duration such as 30s, 1m or 250ms")
    if not 0 < seconds <= 7 * 24 * 3600:
        raise ValueError(f"duration must be above 0 and at most 168h, got {value!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest ``Nh``/``Nm``/``Ns``/``Nms`` spelling of ``seconds``."""
    for unit, size in (("h", 3600.0), ("m", 60.0), ("s", 1.0)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{round(seconds * 1000)}ms"


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {
            "type": ["string", "number"],
            "pattern": r"^(\d+(\.\d+)?(ms|s|m|h))+$",
            "description": "a duration: 30s, 1m30s, 250ms, or seconds as a number",
        }
    ),
]


def parse_listen(value: Any) -> str:
    """``host:port`` with a port in 1..65535; ``[::1]:5000`` for IPv6; a bare port means 0.0.0.0."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = f"0.0.0.0:{value}"
    if not isinstance(value, str):
        raise ValueError("expected host:port such as 127.0.0.1:5000")
    host, sep, port = value.strip().rpartition(":")
    # A host with blanks or control characters would end up verbatim in generated configs.
    bad_host = any(c.isspace() or not c.isprintable() for c in host)
    if not sep or not host or bad_host or not (port.isascii() and port.isdigit()) \
            or not 0 < int(port) < 65536:
        raise ValueError(f"expected host:port such as 127.0.0.1:5000, got {value!r}")
    return f"{host}:{int(port)}"


ListenAddress = Annotated[
    str,
    BeforeValidator(parse_listen),
    WithJsonSchema(
        {"type": ["string", "integer"], "description": "host:port, e.g. 127.0.0.1:5000"}
    ),
]

Secret = Annotated[
    SecretStr,
    WithJsonSchema({"type": "string", "writeOnly": True, "description": "a secret; use ${VAR}"}),
]
Port = Annotated[int, Field(ge=1, le=65535)]


def reveal(secret: SecretStr | None) -> str | None:
    """The plain value of an optional secret, for the one place that must send it."""
    return secret.get_secret_value() if secret is not None else None
