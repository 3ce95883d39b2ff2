#!/usr/bin/env bash
# Install everything the test suite needs on a Debian machine (run as root), idempotently:
#   - Debian packages: docker-registry (Distribution 2.8), skopeo, nginx  -> real-process e2e tests
#   - npm: workerd, pinned in package.json/package-lock.json               -> Cloudflare Worker e2e tests
#   - pip: this project in editable mode with its [test] extra
# Each step is skipped when its result is already in place, so re-running costs seconds.
# Called by .ci/run; developers can run it too (`bash .ci/install-deps.sh`).
set -euo pipefail

cd "$(dirname "$0")/.."
log() { printf '[install-deps] %s\n' "$*"; }

have() {  # a binary on PATH or in the sbin directories a non-root PATH may lack
    command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]
}

# --- Debian packages --------------------------------------------------------------------------
apt_packages=()
for bin in docker-registry skopeo nginx; do
    have "$bin" || apt_packages+=("$bin")
done
have npm || apt_packages+=(nodejs npm)

if [ "${#apt_packages[@]}" -gt 0 ]; then
    log "apt-get install ${apt_packages[*]}"
    # The tests start their own nginx/registry on free loopback ports; the packaged services must
    # not start (they would sit on :80 and :5000, and may fail without an init system, failing the
    # install). policy-rc.d exit 101 = "action forbidden" for invoke-rc.d; only add one if the
    # machine has none, and remove only the one we added.
    added_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        added_policy=1
    fi
    trap 'if [ "$added_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi' EXIT
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        "${apt_packages[@]}" >/dev/null
    if [ "$added_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
    trap - EXIT
    # Belt and braces: if a service manager started the packaged services anyway, stop and
    # disable them so nothing of ours listens on the default ports.
    for svc in nginx docker-registry; do
        if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
            systemctl disable --now "$svc" >/dev/null 2>&1 || true
        elif [ -x "/etc/init.d/$svc" ]; then
            "/etc/init.d/$svc" stop >/dev/null 2>&1 || true
        fi
    done
else
    log "docker-registry, skopeo, nginx already installed"
fi

# --- workerd (npm) ----------------------------------------------------------------------------
pinned=$(node -p 'require("./package.json").devDependencies.workerd')
installed=$(node -p 'try { require("./node_modules/workerd/package.json").version } catch (e) { "" }')
if [ "$installed" = "$pinned" ] && [ -x node_modules/.bin/workerd ]; then
    log "workerd $installed already installed"
else
    log "npm ci (workerd $pinned)"
    # npm ci installs exactly the lock file; the binary ships inside the platform package
    # (@cloudflare/workerd-linux-64), so nothing is downloaded besides the registry tarballs.
    npm ci --no-audit --no-fund --loglevel=error
fi
node_modules/.bin/workerd --version >/dev/null

# --- Python -----------------------------------------------------------------------------------
log "pip install -e .[test]"
python3 -m pip install --quiet --disable-pip-version-check --no-input --root-user-action=ignore \
    -e '.[test]'

log "done: $(docker-registry --version 2>/dev/null | awk '{print $NF}') / $(skopeo --version) / $(/usr/sbin/nginx -v 2>&1) / $(node_modules/.bin/workerd --version)"
