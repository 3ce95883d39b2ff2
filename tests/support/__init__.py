"""Real-process test harness for the end-to-end tests.

Everything here runs on 127.0.0.1 only, picks its ports at run time and cleans up after itself:

- :mod:`.ports`      free loopback ports;
- :mod:`.tools`      find docker-registry/skopeo/nginx/workerd; skip (fail under CI) if missing;
- :mod:`.oci`        a tiny, deterministic OCI image layout written in pure Python;
- :mod:`.processes`  a context-managed child process with a log file, readiness waits and a
                     SIGTERM-then-SIGKILL stop; a per-test set of processes;
- :mod:`.registry`   Distribution configs (origin, pull-through cache), ``docker-registry serve``;
- :mod:`.skopeo`     push/copy/inspect with skopeo, isolated from the user's container config;
- :mod:`.fake_hub`   a Docker-Hub-shaped front (token server, 307 to a blob "CDN") over a registry.
"""

# Repositories the e2e fixtures push (tests/e2e/conftest.py): the default image, and one that only
# the second origin holds, so a test can tell which upstream answered.
HELLO_REPO = "library/hello"
HELLO_REF = f"{HELLO_REPO}:1"
ONLY_B_REPO = "library/only-b"
ONLY_B_REF = f"{ONLY_B_REPO}:1"
