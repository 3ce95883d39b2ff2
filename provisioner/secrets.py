"""Secret values: registered once, masked everywhere text leaves the process.

The profile loader registers every password and every value that came from an environment
variable. Anything printed, logged or raised passes through :func:`redact`, so a secret that
leaked into a URL, an error message or a server's echo is still never shown. Values shorter than
:data:`MIN_LENGTH` are not registered for text masking (masking every "1" would garble output);
fields known to be secret are masked by the plan renderers regardless of length.
"""

from __future__ import annotations

import hashlib
import logging
import threading

MASK = "(sensitive)"
MIN_LENGTH = 4

_lock = threading.Lock()
_values: set[str] = set()


def register(value: str | None) -> None:
    """Remember ``value`` as secret so :func:`redact` masks it."""
    if value and len(value) >= MIN_LENGTH:
        with _lock:
            _values.add(value)


def is_secret_text(value: object) -> bool:
    """True when ``value`` is, or contains, a registered secret."""
    if not isinstance(value, str) or not _values:
        return False
    return any(secret in value for secret in _snapshot())


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by :data:`MASK`, longest first."""
    if not _values or not text:
        return text
    for secret in sorted(_snapshot(), key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def fingerprint(value: str, salt: str) -> str:
    """A short, salted hash of a secret: stored where a server masks secrets, to see a change.

    The salt (a resource address) keeps equal passwords on two resources from looking equal.
    """
    return hashlib.sha256(f"{salt}\0{value}".encode()).hexdigest()[:16]


def clear() -> None:
    """Forget every registered secret (tests)."""
    with _lock:
        _values.clear()


def _snapshot() -> list[str]:
    with _lock:
        return list(_values)


class RedactingFilter(logging.Filter):
    """A logging filter that masks secrets in the fully formatted message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True
