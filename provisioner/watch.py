"""``provisioner watch``: re-probe on an interval and re-apply what changed, until stopped.

Each round:

1. probe every cache's upstreams and select (keeping a ``fastest`` choice that is still close
   enough, so jitter does not rewrite targets) and log every transition on stderr with a
   timestamp: an upstream going down or coming back, a cache switching upstream, a cache
   becoming stranded (no healthy upstream; targets keep what they have) or recovering;
2. re-plan every target (cheap: a Registry target reads a few files, a server a few GETs) and
   apply the plan when it is not empty, which happens when an active upstream changed or a
   target drifted from the profile;
3. for Registry targets, run the ``--on-change`` command once per cache instance whose files were
   rewritten, so it can restart that registry on its new config (Distribution reads its config
   only at start-up). The command gets ``PROVISIONER_TARGET``, ``PROVISIONER_CACHE``,
   ``PROVISIONER_CONFIG`` (the config.yml path), ``PROVISIONER_UPSTREAM`` and
   ``PROVISIONER_UPSTREAM_URL`` (what the config now points at) in its environment. A failing
   command is logged and run again next round.

A target that fails (server down, bad credentials) is logged and retried next round; the other
targets carry on. SIGINT and SIGTERM end the loop after the current round, never in the middle
of an apply.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import FrameType

import yaml

from provisioner import engine
from provisioner.backends.base import Options, TargetContext
from provisioner.console import err
from provisioner.errors import ProvisionerError
from provisioner.plan import Change
from provisioner.profile.model import Profile, RegistryTarget
from provisioner.selection import Selection, listed_order

HOOK_TIMEOUT = 300.0
Say = Callable[[str], None]


def say(message: str) -> None:
    """One log line on stderr, prefixed with the local time (ISO 8601, seconds)."""
    err(f"{datetime.now().astimezone().isoformat(timespec='seconds')} {message}")


@dataclass
class Watcher:
    """The state carried from one round to the next; :meth:`tick` runs one round."""

    profile: Profile
    options: Options = field(default_factory=Options)
    targets: Sequence[str] = ()
    on_change: str | None = None
    log: Say = say
    hook_timeout: float = HOOK_TIMEOUT
    previous: Selection | None = None
    rounds: int = 0
    hooks_run: int = 0
    _failed_hooks: set[tuple[str, str]] = field(default_factory=set)
    _notes: dict[str, set[str]] = field(default_factory=dict)

    # -- the loop ------------------------------------------------------------------------------
    def run(self, interval: float, once: bool = False) -> int:
        """Round after round, ``interval`` apart (start to start), until SIGINT/SIGTERM."""
        stop = threading.Event()
        received: list[str] = []

        def on_signal(signum: int, frame: FrameType | None) -> None:
            # Only flag it: writing to stderr from a handler could re-enter a write in progress.
            received.append(signal.Signals(signum).name)
            stop.set()

        handlers = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            probing = "probing upstreams" if self.profile.probe.enabled else "probing disabled"
            self.log(f"watching every {interval:g}s ({probing}); Ctrl-C to stop")
            while not stop.is_set():
                started = time.monotonic()
                self.tick()
                if once:
                    break
                stop.wait(max(0.0, interval - (time.monotonic() - started)))
        finally:
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
        if received:
            self.log(f"{received[0]} received; finished the round in progress")
        self.log(f"watch stopped after {self.rounds} round(s)")
        return 0

    def tick(self) -> None:
        """One round: probe, log transitions, converge every target, run hooks. Never raises
        for a target's failure; logs it and carries on."""
        self.rounds += 1
        try:
            selection = self._select()
            self._log_transitions(selection)
            units = engine.build_units(self.profile, selection, self.options, self.targets)
        except ProvisionerError as exc:
            self.log(f"round {self.rounds} failed: {exc}")
            return
        except Exception as exc:  # noqa: BLE001 - a watcher must outlive a bug in one round
            self.log(f"round {self.rounds} failed: {type(exc).__name__}: {exc}")
            return
        rewritten: set[tuple[str, str]] = set()
        for unit in units:
            rewritten |= self._converge(unit)
        for target, cache in sorted(rewritten | self._failed_hooks):
            self._run_hook(target, cache)
        self.previous = selection

    # -- selection and transitions -------------------------------------------------------------
    def _select(self) -> Selection:
        if not self.profile.probe.enabled:
            return listed_order(self.profile)
        from provisioner.failover import probe_selection

        selection, _ = probe_selection(self.profile, previous=self.previous)
        return selection

    def _log_transitions(self, new: Selection) -> None:
        old = self.previous
        for name, health in new.health.items():
            was = old.health.get(name) if old is not None else None
            if was is None and not health.healthy:
                self.log(f"upstream {name} is down: {health.reason}")
            elif was is not None and was.healthy and not health.healthy:
                self.log(f"upstream {name} went down: {health.reason}")
            elif was is not None and not was.healthy and health.healthy:
                self.log(f"upstream {name} is back ({(health.latency or 0) * 1000:.0f} ms)")
        for cache in self.profile.caches:
            reason = new.reasons.get(cache, "")
            stranded = cache in new.stranded
            if old is None:
                state = "stranded" if stranded else f"using {new.active[cache]}"
                self.log(f"cache {cache}: {state}" + (f" ({reason})" if reason else ""))
            elif stranded and cache not in old.stranded:
                self.log(f"cache {cache}: stranded, targets keep their upstream ({reason})")
            elif not stranded and cache in old.stranded:
                self.log(f"cache {cache}: recovered, using {new.active[cache]} ({reason})")
            elif not stranded and new.active[cache] != old.active[cache]:
                self.log(f"cache {cache}: {old.active[cache]} -> {new.active[cache]} ({reason})")

    # -- targets -------------------------------------------------------------------------------
    def _converge(self, unit: TargetContext) -> set[tuple[str, str]]:
        """Plan and, if needed, apply one unit; returns the Registry cache instances rewritten."""
        applied: list[Change] = []
        try:
            plan, planned = engine.plan_all([unit], self.options.parallelism)
            self._log_new_notes(unit.name, [n.message for n in plan.notes])
            if plan.empty:
                return set()
            listing = ", ".join(c.address for c in plan.pending)
            self.log(f"target {unit.name}: applying {len(plan.pending)} change(s): {listing}")
            engine.execute(planned, self.options.parallelism,
                           on_done=lambda change, _seconds: applied.append(change))
            engine.verify([unit], self.options.parallelism)
            self.log(f"target {unit.name}: converged")
        except ProvisionerError as exc:
            self.log(f"target {unit.name}: failed: {exc}; retrying next round")
        except Exception as exc:  # noqa: BLE001 - a watcher must outlive one target's bug
            self.log(f"target {unit.name}: failed: {type(exc).__name__}: {exc}; "
                     "retrying next round")
        return _rewritten_instances(unit, applied) if self.on_change else set()

    def _log_new_notes(self, unit: str, messages: list[str]) -> None:
        """Log a unit's plan notes once, not every round they stay true."""
        seen = self._notes.setdefault(unit, set())
        for message in messages:
            if message not in seen:
                self.log(f"target {unit}: {message}")
        self._notes[unit] = set(messages)

    def _run_hook(self, target: str, cache: str) -> None:
        assert self.on_change is not None
        spec = self.profile.targets[target]
        assert isinstance(spec, RegistryTarget)
        config = spec.output / cache / "config.yml"
        url = _remote_url(config)
        upstream = next((name for name in self.profile.caches[cache].upstreams
                         if self.profile.upstreams[name].endpoint == url), "")
        env = {**os.environ, "PROVISIONER_TARGET": target, "PROVISIONER_CACHE": cache,
               "PROVISIONER_CONFIG": str(config), "PROVISIONER_UPSTREAM": upstream,
               "PROVISIONER_UPSTREAM_URL": url}
        started = time.monotonic()
        try:
            done = subprocess.run(self.on_change, shell=True, env=env, stdin=subprocess.DEVNULL,
                                  timeout=self.hook_timeout, check=False)
            code: int | str = done.returncode
        except subprocess.TimeoutExpired:
            code = f"timeout after {self.hook_timeout:g}s"
        except OSError as exc:
            code = exc.strerror or str(exc)
        self.hooks_run += 1
        seconds = time.monotonic() - started
        if code == 0:
            self._failed_hooks.discard((target, cache))
            self.log(f"target {target}: on-change for cache {cache} done ({seconds:.2f}s)")
        else:
            self._failed_hooks.add((target, cache))
            self.log(f"target {target}: on-change for cache {cache} failed (exit {code}, "
                     f"{seconds:.2f}s); running it again next round")


def _rewritten_instances(unit: TargetContext, applied: Sequence[Change]) -> set[tuple[str, str]]:
    """(target, cache) of the Registry instances whose files an apply wrote.

    Registry addresses are ``registry.<target>.<cache>/<file>`` (names hold no dots).
    """
    if unit.kind != "registry":
        return set()
    out: set[tuple[str, str]] = set()
    for change in applied:
        head = change.address.split("/", 1)[0]
        parts = head.split(".")
        if len(parts) == 3 and parts[2] in unit.caches:
            out.add((unit.name, parts[2]))
    return out


def _remote_url(config: Path) -> str:
    """``proxy.remoteurl`` of a generated config, or "" when unreadable."""
    try:
        doc = yaml.safe_load(config.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return ""
    proxy = doc.get("proxy") if isinstance(doc, dict) else None
    url = proxy.get("remoteurl") if isinstance(proxy, dict) else None
    return url.rstrip("/") if isinstance(url, str) else ""
