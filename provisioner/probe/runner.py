"""Probe upstreams concurrently, each within one deadline: ping, token flow, manifest HEAD.

One probe per (upstream, probe image) runs in its own daemon thread. Every request gets the time
left until the shared deadline (``probe.timeout`` after the start) as its timeout, and the caller
stops waiting at the deadline plus a small grace: a probe still running then (a server that
accepted and hangs, a DNS lookup that never returns, a server trickling bytes) is reported as a
timeout at the step it was in, and its thread is left to die on its own. So probing N upstreams
takes about as long as the slowest one, never the sum, and never much more than the timeout.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

import requests

from provisioner.errors import ApiError
from provisioner.http import Tls
from provisioner.probe.client import (
    MANIFEST_ACCEPT,
    Challenge,
    ProbeClient,
    classify,
    parse_challenge,
    registry_error,
)
from provisioner.probe.result import (
    ErrorKind,
    ProbeReport,
    ProbeResult,
    ProbeTask,
    Step,
    StepName,
)
from provisioner.profile.model import Profile, Upstream
from provisioner.profile.types import reveal

DEFAULT_PROBE_IMAGE = "library/busybox:latest"
GRACE = 0.25  # seconds past the deadline before a still-running probe is given up on


def image_path(image: str, layout: str) -> tuple[str, str]:
    """(repository, reference) to ask an upstream with ``layout`` for.

    ``docker-hub`` layout: official images live under ``library/`` (``busybox`` -> ``library/
    busybox``); ``plain``: names as given, so a leading ``library/`` is dropped.
    """
    if "@" in image:
        repository, reference = image.split("@", 1)
    elif ":" in image.rsplit("/", 1)[-1]:
        repository, reference = image.rsplit(":", 1)
    else:
        repository, reference = image, "latest"
    if layout == "plain":
        repository = repository.removeprefix("library/")
    elif "/" not in repository:
        repository = f"library/{repository}"
    return repository, reference


def plan_tasks(profile: Profile, caches: Iterable[str] | None = None,
               every_upstream: bool = False) -> list[ProbeTask]:
    """The probes to run: each upstream of each cache with that cache's probe image.

    ``every_upstream`` adds upstreams no cache uses (with the default probe image). Tasks come in
    profile order of the upstreams, one per distinct (upstream, image).
    """
    tasks: list[ProbeTask] = []
    for name in caches if caches is not None else profile.caches:
        cache = profile.caches[name]
        for upstream in cache.upstreams:
            task = ProbeTask(upstream, cache.probe_image)
            if task not in tasks:
                tasks.append(task)
    if every_upstream:
        used = {t.upstream for t in tasks}
        tasks += [ProbeTask(u, DEFAULT_PROBE_IMAGE) for u in profile.upstreams if u not in used]
    rank = {name: i for i, name in enumerate(profile.upstreams)}
    return sorted(tasks, key=lambda t: rank[t.upstream])


def probe_tasks(profile: Profile, tasks: Iterable[ProbeTask],
                timeout: float | None = None) -> ProbeReport:
    """Run ``tasks`` concurrently; returns after all finished or at the deadline (+ grace)."""
    budget = timeout if timeout is not None else profile.probe.timeout
    started = time.monotonic()
    deadline = started + budget
    probes = [_Probe(task, profile.upstreams[task.upstream], deadline, budget) for task in tasks]
    results: dict[int, ProbeResult] = {}
    lock = threading.Lock()
    closed = False

    def work(index: int) -> None:
        result = probes[index].run()
        with lock:
            if not closed:
                results[index] = result

    threads = [threading.Thread(target=work, args=(i,), daemon=True,
                                name=f"probe-{p.task.upstream}") for i, p in enumerate(probes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, deadline + GRACE - time.monotonic()))
    with lock:
        closed = True  # a straggler finishing now must not change the report we return
        final = [results.get(i) or probe.abandoned() for i, probe in enumerate(probes)]
    return ProbeReport(tuple(final), time.monotonic() - started, budget)


def probe_profile(profile: Profile, caches: Iterable[str] | None = None,
                  every_upstream: bool = False, timeout: float | None = None) -> ProbeReport:
    """Probe the upstreams of ``caches`` (default: every cache); see :func:`plan_tasks`."""
    return probe_tasks(profile, plan_tasks(profile, caches, every_upstream), timeout)


class _Failed(Exception):
    def __init__(self, kind: ErrorKind, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


class _Probe:
    """The three steps against one upstream; ``run`` never raises."""

    def __init__(self, task: ProbeTask, upstream: Upstream, deadline: float, budget: float) -> None:
        self.task = task
        self.upstream = upstream
        self.deadline = deadline
        self.budget = budget
        self.steps: list[Step] = []
        self.current: StepName = "ping"
        self.started = self.step_started = time.monotonic()
        password = reveal(upstream.password)
        self.credentials = (upstream.username, password) if upstream.username and password else None
        self.repository, self.reference = image_path(task.image, upstream.layout)

    def run(self) -> ProbeResult:
        client = ProbeClient(self.task.upstream, self.upstream.endpoint,
                             Tls(self.upstream.insecure, self.upstream.ca_file))
        try:
            digest = self._steps(client)
        except _Failed as failed:
            return self._result(False, error=failed.kind, reason=failed.reason)
        finally:
            client.close()
        return self._result(True, digest=digest)

    def abandoned(self) -> ProbeResult:
        """The result of a probe still running at the deadline: a timeout where it hangs."""
        stuck = Step(self.current, False, time.monotonic() - self.step_started, None, "no answer")
        where = "" if self.current == "ping" else f" ({self.current})"
        return self._result(False, error="timeout", extra=(stuck,),
                            reason=f"timed out after {self.budget:g}s{where}")

    def _result(self, healthy: bool, *, error: ErrorKind | None = None, reason: str = "",
                digest: str | None = None, extra: tuple[Step, ...] = ()) -> ProbeResult:
        return ProbeResult(
            upstream=self.task.upstream, url=self.upstream.endpoint, image=self.task.image,
            healthy=healthy, steps=(*self.steps, *extra), error=error, reason=reason,
            step=None if healthy else self.current, digest=digest,
            seconds=time.monotonic() - self.started, insecure=self.upstream.insecure,
        )

    # -- the steps -----------------------------------------------------------------------------
    def _steps(self, client: ProbeClient) -> str | None:
        """Ping, token, manifest; returns the digest seen or raises _Failed."""
        ping = self._send(client, "ping", "GET", "/v2/", ok=(200, 401))
        challenge: Challenge | None = None
        if ping.status_code == 401:
            challenge = parse_challenge(ping.headers.get("WWW-Authenticate"))
            if challenge is None:
                raise _Failed("response", "GET /v2/ answered 401 without a challenge")
        elif ping.status_code != 200:
            raise self._status_failure("GET", "/v2/", ping)
        path = f"/v2/{self.repository}/manifests/{self.reference}"
        headers = {"Accept": MANIFEST_ACCEPT}
        auth = self._authorize(client, challenge, headers)
        head = self._send(client, "manifest", "HEAD", path, ok=(200,), headers=headers, auth=auth)
        if head.status_code == 401 and "Authorization" not in headers and auth is None:
            # /v2/ was open but the repository is not (some proxies only guard content).
            later = parse_challenge(head.headers.get("WWW-Authenticate"))
            auth = self._authorize(client, later, headers)
            head = self._send(client, "manifest", "HEAD", path, ok=(200,), headers=headers,
                              auth=auth)
        if head.status_code != 200:
            raise self._status_failure("HEAD", path, head)
        return head.headers.get("Docker-Content-Digest") or None

    def _authorize(self, client: ProbeClient, challenge: Challenge | None,
                   headers: dict[str, str]) -> tuple[str, str] | None:
        """Answer a challenge: a Bearer token in ``headers``, or Basic credentials to send."""
        if challenge is None:
            return None
        if challenge.scheme == "bearer":
            headers["Authorization"] = f"Bearer {self._token(client, challenge)}"
            return None
        if challenge.scheme == "basic":
            if self.credentials is None:
                raise _Failed("auth", "asks for Basic credentials and the profile gives none")
            return self.credentials
        raise _Failed("response", f"unsupported authentication scheme {challenge.scheme!r}")

    def _token(self, client: ProbeClient, challenge: Challenge) -> str:
        realm = challenge.realm
        if not realm or not realm.startswith(("http://", "https://")):
            raise _Failed("response", f"Bearer challenge without a usable realm ({realm!r})")
        params = {"scope": f"repository:{self.repository}:pull"}
        if challenge.params.get("service"):
            params["service"] = challenge.params["service"]
        answer = self._send(client, "token", "GET", realm, ok=(200,), params=params,
                            auth=self.credentials)
        if answer.status_code in (401, 403):
            who = "the upstream's credentials" if self.credentials else "anonymous access"
            status = answer.status_code
            raise _Failed("auth", f"token service refused {who} (HTTP {status}, {realm})")
        if answer.status_code != 200:
            raise self._status_failure("GET", realm, answer)
        try:
            body = answer.json()
        except ValueError:
            raise _Failed("response", f"token service answered without JSON ({realm})") from None
        token = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise _Failed("response", f"token service answered without a token ({realm})")
        return token

    def _send(self, client: ProbeClient, step: StepName, method: str, path: str, *,
              ok: tuple[int, ...], headers: dict[str, str] | None = None,
              params: dict[str, str] | None = None,
              auth: tuple[str, str] | None = None) -> requests.Response:
        self.current, self.step_started = step, time.monotonic()
        remaining = self.deadline - self.step_started
        if remaining <= 0:
            raise _Failed("timeout", f"timed out after {self.budget:g}s ({step})")
        try:
            response = client.send(method, path, timeout=remaining, headers=headers,
                                   params=params, auth=auth)
        except ApiError as exc:
            kind, reason = classify(exc)
            self.steps.append(Step(step, False, time.monotonic() - self.step_started, None, reason))
            if kind == "timeout":
                reason = f"timed out after {self.budget:g}s"
            raise _Failed(kind, reason if step == "ping" else f"{reason} ({step})") from None
        status = response.status_code
        self.steps.append(Step(step, status in ok, time.monotonic() - self.step_started, status))
        return response

    def _status_failure(self, method: str, path: str, response: requests.Response) -> _Failed:
        status = response.status_code
        shown = path if path.startswith("/") else path.split("?", 1)[0]
        detail = registry_error(response)
        suffix = f": {detail}" if detail else ""
        if status in (401, 403):
            return _Failed("auth", f"{method} {shown} refused (HTTP {status}){suffix}")
        if status == 404 and self.current == "manifest":
            return _Failed("http", f"probe image {self.task.image} not found "
                                   f"(HTTP 404 on {method} {shown})")
        if status == 429:
            return _Failed("http", f"rate limited (HTTP 429 on {method} {shown})")
        return _Failed("http", f"HTTP {status} on {method} {shown}{suffix}")
