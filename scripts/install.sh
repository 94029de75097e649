#!/usr/bin/env bash
# Quick start, step 1: installs alpn-responder on Debian 12 or 13 from this clone, the way an admin expects — as a
# Debian package (built here with `npm run package`) — and starts it. Run it as root or as a user who may sudo:
# sudo is used only when not root (a root-only Debian has no sudo).
#   - installs what the build needs (Node.js >= 20 and npm, from Debian) and dehydrated;
#   - builds alpn-responder_<version>_all.deb and installs it (the CLI is /usr/bin/alpn-responder);
#   - starts the daemon on port 443 with its control socket writable by your group:
#       with systemd: alpn-responder.socket (enabled, so it comes back after a reboot), its SocketGroup= set by
#       the drop-in /etc/systemd/system/alpn-responder.socket.d/quick-start.conf;
#       without systemd (a container): `alpn-responder serve` in the background, logging to
#       /var/log/alpn-responder.log (stop it with: kill "$(cat /run/alpn-responder.pid)");
#     and returns once the daemon answers on its control socket — or fails with the end of its log.
# Nothing stays in the foreground. Then: `alpn-responder status`, `alpn-responder doctor`.
# `apt-get purge alpn-responder` removes what this made: the package, the enable link, the drop-in, the log.

set -euo pipefail

cd "$(dirname -- "${BASH_SOURCE[0]}")/.."
SUDO=()
if [[ "$(id -u)" -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "install.sh: run this as root, or install sudo" >&2; exit 1; }
  SUDO=(sudo)
fi
as_root() { "${SUDO[@]}" "$@"; }
say() { printf '\n== %s\n' "$*"; }
export DEBIAN_FRONTEND=noninteractive

node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

say "Debian packages: Node.js and npm (if missing), dehydrated, netcat-openbsd"
as_root apt-get update -q
WANT=(dehydrated netcat-openbsd ca-certificates)
command -v node >/dev/null || WANT+=(nodejs)
command -v npm >/dev/null || WANT+=(npm)
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${WANT[@]}"
if (($(node_major) < 20)); then
  cat >&2 <<MSG
install.sh: Node.js $(node --version) is too old: alpn-responder needs Node.js 20, 22 or 24.
Debian 13 ships Node.js 20; Debian 12's own nodejs package is 18. On Debian 12, install a nodejs package >= 20
(for example NodeSource's, https://github.com/nodesource/distributions) and run this script again.
MSG
  exit 1
fi
echo "node $(node --version), npm $(npm --version)"

say "npm ci && npm run package"
npm ci --no-audit --no-fund --loglevel=error
npm run package --silent
DEB="alpn-responder_$(node -p 'require("./package.json").version')_all.deb"

say "apt-get install ./$DEB"
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "./$DEB"
echo "$(command -v alpn-responder): $(alpn-responder --version)"

# Who may deploy: the group of whoever ran this (root's group when run as root).
GROUP="$(id -gn)"
LOG=/var/log/alpn-responder.log
# Whether process $1 exists and is not a zombie (kill -0 cannot tell for root's processes when not root).
alive() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"
  [[ ${stat%% *} != Z ]]
}
# Fails the install with the daemon's last log lines (given on stdin) and what to do.
died() {
  echo "install.sh: FAILED: the daemon did not come up ($1). The end of its log:" >&2
  sed 's/^/  /' >&2
  echo "install.sh: fix the cause above, then run ./scripts/install.sh again." >&2
  exit 1
}
# Polls until the daemon answers `status` on its control socket, or it has given up: daemon_gone (defined per
# branch below) succeeds once it exited or its unit failed, daemon_log prints its last lines. The 120 s ceiling only
# keeps a start that hangs from blocking the install forever.
wait_ready() {
  local start=$SECONDS
  until as_root alpn-responder status >/dev/null 2>&1; do
    if daemon_gone; then died "it exited at start" < <(daemon_log); fi
    if ((SECONDS - start > 120)); then died "no answer on /run/alpn-responder/control.sock after 120 s" < <(daemon_log); fi
    sleep 0.2
  done
}

say "start the daemon (control socket group: $GROUP)"
if [[ -d /run/systemd/system ]]; then
  # Both things made here go again with `apt-get purge alpn-responder` (postrm deletes them by name): the drop-in
  # /etc/systemd/system/alpn-responder.socket.d/quick-start.conf and the enable link
  # /etc/systemd/system/sockets.target.wants/alpn-responder.socket.
  as_root mkdir -p /etc/systemd/system/alpn-responder.socket.d
  printf '[Socket]\nSocketGroup=%s\n' "$GROUP" | as_root tee /etc/systemd/system/alpn-responder.socket.d/quick-start.conf >/dev/null
  as_root systemctl daemon-reload
  as_root systemctl enable --now alpn-responder.socket
  # `status` connects to the control socket, which starts the service.
  daemon_gone() { systemctl is-failed --quiet alpn-responder.socket alpn-responder.service; }
  daemon_log() { as_root journalctl --no-pager -n 20 -u alpn-responder.socket -u alpn-responder.service; }
  wait_ready
  echo "alpn-responder.socket is listening (enabled: it comes back after a reboot) and the daemon answers (systemctl status alpn-responder)"
else
  if [[ -f /run/alpn-responder.pid ]] && alive "$(cat /run/alpn-responder.pid)"; then
    as_root kill "$(cat /run/alpn-responder.pid)"
    while alive "$(cat /run/alpn-responder.pid)"; do sleep 0.1; done
  fi
  # Only this start's lines are shown if it fails: the log is appended to.
  LOG_START="$(as_root stat -c %s "$LOG" 2>/dev/null || echo 0)"
  # $1 and $! belong to the inner shell, which runs as root.
  # shellcheck disable=SC2016
  as_root sh -c 'mkdir -p /run/alpn-responder && setsid alpn-responder serve --control-group "$1" >>"$2" 2>&1 </dev/null & echo $! >/run/alpn-responder.pid' sh "$GROUP" "$LOG"
  PID="$(cat /run/alpn-responder.pid)"
  daemon_gone() { ! alive "$PID"; }
  daemon_log() { as_root tail -c +"$((LOG_START + 1))" "$LOG" | tail -n 20; }
  wait_ready
  echo "no systemd here: alpn-responder serve runs in the background and answers (pid $PID, log $LOG)"
fi

say "alpn-responder doctor --quick"
alpn-responder doctor --quick
