#!/usr/bin/env bash
# Idempotent set-up of a Debian 12 machine for the testbed; seconds when everything is present.
#   1. Debian packages (daemons, Mininet's mnexec, Open vSwitch, tools) that are missing
#   2. the Python environment .venv (Debian's python3, so Debian's Mininet is importable)
#   3. the dashboard's browser libraries, from npm (pinned in frontend/package-lock.json), copied
#      into hatestbed/dashboard/static/vendor/ so the page needs no internet
#   4. Open vSwitch running (there is often no service manager to start it)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
    echo "setup: must run as root: sudo ./testbed setup" >&2
    exit 1
fi

PACKAGES=(
    mininet openvswitch-switch            # mnexec + Mininet library, the switches
    python3-venv python3-dev              # the project's virtual environment on Debian's python3
    iproute2 net-tools ethtool iptables iputils-ping arping tcpdump nmap wrk curl openssl conntrack
    haproxy keepalived nginx-light mariadb-server mariadb-client
    galera-4 rsync                        # Galera cluster mode (rsync: its state transfer)
    prometheus prometheus-node-exporter prometheus-mysqld-exporter
    prometheus-alertmanager               # the monitors' clustered Alertmanagers (+ amtool)
    stress-ng                             # timer_sweep: the bounded CPU stressor inside the testbed
    chromium chromium-driver              # tests: report.html and the dashboard seen in a headless browser
    socat                                 # the dashboard's loopback relays to Prometheus, Alertmanager, HAProxy stats
    openssh-server openssh-client         # several machines: ssh to them; the simulated second machine's sshd
)

missing=()
for package in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
    echo "setup: installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # The testbed runs its own daemons inside emulated hosts; keep package scripts from starting
    # system-wide copies (only when no policy of the machine's own is in place).
    policy=/usr/sbin/policy-rc.d
    own_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy" && own_policy=1
    fi
    trap '[ "$own_policy" = 1 ] && rm -f "$policy"' EXIT
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

stamp=.venv/.installed-pyproject
if [ ! -x .venv/bin/python ] || ! cmp -s pyproject.toml "$stamp"; then
    echo "setup: creating the Python environment in .venv"
    /usr/bin/python3 -m venv --system-site-packages .venv
    # pip compiles every module up front (10 of the 28 s of a fresh clone's set-up here). Worth it:
    # with PYTHONDONTWRITEBYTECODE set, as on this VM, Python never caches what it compiles, and
    # --no-compile made every process of the suite compile its imports anew (unit tier 38 -> 60 s).
    .venv/bin/pip install --quiet --disable-pip-version-check -e .
    cp pyproject.toml "$stamp"
fi

vendor=hatestbed/dashboard/static/vendor
if ! cmp -s frontend/package-lock.json "$vendor/.package-lock.json"; then
    if ! command -v npm >/dev/null; then
        echo "setup: npm is missing (the dashboard's libraries come from the npm registry): install Node.js and npm" >&2
        exit 1
    fi
    echo "setup: fetching the dashboard's browser libraries (npm ci)"
    npm ci --prefix frontend --no-audit --no-fund --loglevel=error >/dev/null
    mkdir -p "$vendor"
    cp frontend/node_modules/cytoscape/dist/cytoscape.min.js frontend/node_modules/chart.js/dist/chart.umd.min.js "$vendor/"
    cp frontend/node_modules/cytoscape/LICENSE "$vendor/cytoscape.LICENSE"
    cp frontend/node_modules/chart.js/LICENSE.md "$vendor/chart.js.LICENSE.md"
    cp frontend/package-lock.json "$vendor/.package-lock.json"
fi

if ! ovs-vsctl --timeout=3 show >/dev/null 2>&1; then
    echo "setup: starting Open vSwitch"
    log=$(mktemp)
    if ! /usr/share/openvswitch/scripts/ovs-ctl start --system-id=random >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        exit 1
    fi
    rm -f "$log"
    ovs-vsctl --timeout=10 show >/dev/null
fi
