"""Where text goes: results to stdout, logs, progress and prompts to stderr; secrets masked.

Colour is on only when the stream is a terminal, ``--no-color`` was not given and ``NO_COLOR``
is unset or empty (no-color.org).
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

import click

from provisioner.secrets import RedactingFilter, redact


def colour_wanted(stream: TextIO, disabled: bool) -> bool:
    if disabled or os.environ.get("NO_COLOR"):
        return False
    return bool(getattr(stream, "isatty", lambda: False)())


def out(text: str) -> None:
    """A result on stdout (plans, JSON, tables)."""
    click.echo(redact(text), nl=False, color=True)


def err(text: str, color: bool = False, fg: str | None = None) -> None:
    """A message on stderr."""
    line = redact(text)
    click.echo(click.style(line, fg=fg) if color and fg else line, err=True, color=color)


def setup_logging(verbosity: int, quiet: bool, debug: bool) -> None:
    """-q: errors only; default: warnings; -v: info; -vv or --debug: debug. Always stderr."""
    if debug or verbosity >= 2:
        level = logging.DEBUG
    elif verbosity == 1:
        level = logging.INFO
    elif quiet:
        level = logging.ERROR
    else:
        level = logging.WARNING
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    if level > logging.DEBUG:
        # urllib3 warns on every retry ("Retrying (...) after connection broken by ..."); the
        # final error says what failed, so retries are shown from -v on only.
        logging.getLogger("urllib3").setLevel(logging.WARNING if level <= logging.INFO
                                              else logging.ERROR)
