"""The ``provisioner`` command line.

Exit codes: 0 success; 1 any error, bad usage included (so ``diff --detailed-exitcode`` can keep
2 for "changes present"); 2 only from ``diff --detailed-exitcode`` when the plan is not empty.
Heavy modules (pydantic, requests, backends) are imported inside the commands that need them,
so ``--help`` and ``--version`` start fast.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from provisioner import __version__
from provisioner.backends import DEFAULT_PARALLELISM

if TYPE_CHECKING:
    from provisioner.backends.base import Options
    from provisioner.plan import Plan
    from provisioner.profile.model import Profile

_state: dict[str, Any] = {
    "debug": False,
    "color": False,
    "verbose": 0,
    "quiet": False,
    "no_color": False,
}


def _configure_output() -> None:
    from provisioner.console import colour_wanted, setup_logging

    _state["color"] = colour_wanted(sys.stdout, _state["no_color"])
    setup_logging(_state["verbose"], _state["quiet"], _state["debug"])


def _remember(key: str) -> Any:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        if value:  # an option given after the command adds to the one given before it
            _state[key] = _state[key] + value if key == "verbose" else value
            _configure_output()

    return callback


def _state_option(*decls: str, key: str, **kwargs: Any) -> Callable[[Any], Any]:
    """An option that sets ``_state[key]`` (not a command parameter)."""
    return click.option(*decls, expose_value=False, callback=_remember(key), **kwargs)


def _output_options(f: Any) -> Any:
    """-v, -q, --debug and --no-color, accepted before or after the command name."""
    return _stack(
        f,
        _state_option(
            "-v",
            "--verbose",
            key="verbose",
            count=True,
            help="More log output on stderr (-vv for debug).",
        ),
        _state_option("-q", "--quiet", key="quiet", is_flag=True, help="Only errors on stderr."),
        _state_option(
            "--debug",
            key="debug",
            is_flag=True,
            help="Debug logs and tracebacks for unexpected errors.",
        ),
        _state_option(
            "--no-color",
            key="no_color",
            is_flag=True,
            envvar="NO_COLOR",
            help="No ANSI colour (also NO_COLOR).",
        ),
    )


def _stack(f: Any, *decorators: Callable[[Any], Any]) -> Any:
    """Apply ``decorators`` so they read top to bottom like stacked ``@`` lines."""
    for decorator in reversed(decorators):
        f = decorator(f)
    return f


class _Cli(click.Group):
    """A group whose every command also takes the output options."""

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        _output_options(cmd)
        super().add_command(cmd, name)


@click.group(
    cls=_Cli, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.version_option(__version__, "-V", "--version", prog_name="provisioner")
@_output_options
def cli() -> None:
    """Declarative Docker pull-through caches with failover.

    A YAML profile names upstreams (Cloudflare Workers, Nginx proxies, mirrors, Docker Hub),
    caches (ordered failover lists of upstreams) and targets (Distribution registries, Nexus 3,
    Harbor). `diff` shows what would change; `apply` makes it so.
    """
    _configure_output()


def _load(path: str) -> Profile:
    from provisioner.profile import load_profile

    return load_profile(path)


@cli.command()
@click.argument("profile", type=click.Path(dir_okay=False))
def validate(profile: str) -> int:
    """Load, interpolate and validate PROFILE; errors name file:line and the field."""
    from provisioner.console import err

    loaded = _load(profile)
    err(
        f"{profile}: valid ({len(loaded.upstreams)} upstreams, {len(loaded.caches)} caches, "
        f"{len(loaded.targets)} targets)"
    )
    return 0


@cli.command()
def schema() -> int:
    """Print the JSON Schema (draft-07) of the profile format."""
    from provisioner.console import out
    from provisioner.profile.schema import schema_json

    out(schema_json())
    return 0


def _target_option(f: Any) -> Any:
    return click.option(
        "-t",
        "--target",
        "targets",
        multiple=True,
        metavar="NAME",
        help="Only this target (repeatable); also 'clients' and 'upstreams'.",
    )(f)


def _parallelism_option(f: Any) -> Any:
    return click.option(
        "--parallelism",
        type=click.IntRange(1, 64),
        default=DEFAULT_PARALLELISM,
        show_default=True,
        help="Requests in flight at once per run (reads and writes).",
    )(f)


def _planning_options(f: Any) -> Any:
    """The options ``diff`` and ``apply`` share: what to plan, and how."""
    return _stack(
        f,
        _target_option,
        click.option(
            "--prune",
            is_flag=True,
            help="Delete resources this tool created that the profile no longer wants.",
        ),
        click.option(
            "--replace",
            "allow_replace",
            is_flag=True,
            help="Allow replacements that lose cached data (a Harbor proxy project).",
        ),
        _parallelism_option,
        click.option(
            "--no-probe",
            is_flag=True,
            help="Do not probe upstreams; every cache uses its first listed upstream.",
        ),
    )


def _plan(
    profile_path: str, targets: tuple[str, ...], options: Options, probe: bool = True
) -> tuple[Plan, Any, Any]:
    from dataclasses import replace

    from provisioner import engine
    from provisioner.failover import selection_for

    profile = _load(profile_path)
    # Probe first (unless --no-probe or probe.enabled: false): the active upstream per cache,
    # with the reasons and notes the plan shows.
    selection, notes = selection_for(profile, probe)
    units = engine.build_units(profile, selection, options, targets)
    plan, planned = engine.plan_all(units, options.parallelism)
    if notes:
        plan = replace(plan, notes=(*notes, *plan.notes))
    return plan, planned, units


@cli.command()
@click.argument("profile", type=click.Path(dir_okay=False))
@click.option(
    "--json", "as_json", is_flag=True, help="Machine-readable plan (terraform show -json style)."
)
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0 no changes, 2 changes, 1 error.")
@_planning_options
def diff(
    profile: str,
    targets: tuple[str, ...],
    as_json: bool,
    detailed_exitcode: bool,
    prune: bool,
    allow_replace: bool,
    parallelism: int,
    no_probe: bool,
) -> int:
    """Show what apply would change on every target (read-only)."""
    from provisioner.backends.base import Options
    from provisioner.console import out
    from provisioner.render.plan_json import render_plan_json
    from provisioner.render.plan_text import render_plan

    options = Options(prune=prune, allow_replace=allow_replace, parallelism=parallelism)
    plan, _, _ = _plan(profile, targets, options, probe=not no_probe)
    out(render_plan_json(plan) if as_json else render_plan(plan, _state["color"]))
    return 2 if detailed_exitcode and not plan.empty else 0


@cli.command()
@click.argument("profile", type=click.Path(dir_okay=False))
@click.option(
    "-y",
    "--auto-approve",
    is_flag=True,
    envvar="PROVISIONER_AUTO_APPROVE",
    show_envvar=True,
    help="Apply without asking.",
)
@_planning_options
def apply(
    profile: str,
    targets: tuple[str, ...],
    auto_approve: bool,
    prune: bool,
    allow_replace: bool,
    parallelism: int,
    no_probe: bool,
) -> int:
    """Plan, confirm, apply every change in dependency order, then verify convergence."""
    from provisioner import engine
    from provisioner.backends.base import Options
    from provisioner.console import err, out
    from provisioner.errors import ProvisionerError
    from provisioner.render.plan_text import render_plan

    options = Options(prune=prune, allow_replace=allow_replace, parallelism=parallelism)
    plan, planned, units = _plan(profile, targets, options, probe=not no_probe)
    out(render_plan(plan, _state["color"]))
    if plan.empty:
        return 0
    if not auto_approve:
        if not sys.stdin.isatty():
            raise ProvisionerError(
                "refusing to apply without confirmation: no terminal to ask on; "
                "pass -y/--auto-approve"
            )
        answer = click.prompt(
            "Apply these changes? Only 'yes' is accepted", default="", show_default=False, err=True
        )
        if answer.strip() != "yes":
            err("Apply cancelled; nothing was changed.")
            return 1

    def progress(change: Any, seconds: float) -> None:
        err(f"{change.address}: {change.action.value} done ({seconds:.2f}s)")

    engine.execute(planned, parallelism, on_done=progress)
    engine.verify(units, parallelism, planned)  # same clients: connections stay open
    add, change, destroy = plan.counts()
    out(
        f"Apply complete: {add} added, {change} changed, {destroy} destroyed; "
        "every target matches the profile.\n"
    )
    return 0


@cli.command()
@click.argument("profile", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
@click.option(
    "--timeout",
    metavar="DURATION",
    help="Per-upstream deadline (default: the profile's probe.timeout, 5s).",
)
def probe(profile: str, as_json: bool, timeout: str | None) -> int:
    """Probe every upstream concurrently: GET /v2/, token flow, manifest HEAD of the probe image.

    Prints health, the latency of each step and the digest seen, and which upstream each cache
    would use. Exit 0 when every upstream is healthy, 1 otherwise.
    """
    from provisioner.console import out
    from provisioner.failover import select
    from provisioner.probe import probe_profile
    from provisioner.probe.render import render_json, render_text

    loaded = _load(profile)
    report = probe_profile(loaded, every_upstream=True, timeout=_duration(timeout, "--timeout"))
    selection = select(loaded, report)
    if as_json:
        out(render_json(report, loaded, selection))
    else:
        out(render_text(report, loaded, selection, _state["color"]))
    return 0 if report.all_healthy else 1


@cli.command()
@click.argument("profile", type=click.Path(dir_okay=False))
@_target_option
@click.option(
    "--interval",
    default="30s",
    show_default=True,
    metavar="DURATION",
    help="Time between two rounds (30s, 1m, 500ms).",
)
@click.option(
    "--on-change",
    "on_change",
    metavar="CMD",
    help="Shell command run after a Registry cache's files are rewritten (restart it); "
    "gets PROVISIONER_TARGET, _CACHE, _CONFIG, _UPSTREAM, _UPSTREAM_URL.",
)
@click.option("--once", is_flag=True, help="Run one round and exit (for cron).")
@_parallelism_option
def watch(
    profile: str,
    targets: tuple[str, ...],
    interval: str,
    on_change: str | None,
    once: bool,
    parallelism: int,
) -> int:
    """Probe on an interval and re-apply when a cache's active upstream changes or a target
    drifts; logs every transition on stderr. Stops cleanly on SIGINT/SIGTERM."""
    from provisioner.backends.base import Options
    from provisioner.watch import Watcher

    seconds = _duration(interval, "--interval")
    assert seconds is not None
    watcher = Watcher(_load(profile), Options(parallelism=parallelism), targets, on_change)
    return watcher.run(seconds, once=once)


def _duration(value: str | None, option: str) -> float | None:
    from provisioner.profile.types import parse_duration

    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI and turn every failure into one line on stderr and exit 1."""
    from provisioner.errors import ProvisionerError

    try:
        code = cli.main(args=argv, prog_name="provisioner", standalone_mode=False)
    except click.exceptions.Abort:
        _fail("aborted")
    except click.UsageError as exc:
        hint = f" (try '{exc.ctx.command_path} --help')" if exc.ctx else ""
        _fail(f"{exc.format_message()}{hint}")
    except click.ClickException as exc:
        _fail(exc.format_message())
    except ProvisionerError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        _fail("interrupted")
    except Exception as exc:  # noqa: BLE001 - the last line of defence: never a bare traceback
        if _state["debug"]:
            from provisioner.secrets import redact

            # Through the redactor: an exception message may quote a value that is a secret.
            click.echo(redact(traceback.format_exc()), err=True, nl=False)
        _fail(f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)")
    sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str) -> None:
    from provisioner.errors import one_line
    from provisioner.secrets import redact

    click.echo(
        click.style("Error: ", fg="red", bold=True) if _state["color"] else "Error: ",
        err=True,
        nl=False,
        color=_state["color"],
    )
    click.echo(one_line(redact(message)), err=True)  # one line, whatever the message quotes
    sys.exit(1)


if __name__ == "__main__":
    main()
