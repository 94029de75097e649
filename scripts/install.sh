#!/usr/bin/env bash
# Quick start, step 1: installs alpn-responder on Debian 12 or 13 from this clone, the way an admin expects — as a
# Debian package (built here with `npm run package`) — and starts it. Run it as root or as a user who may sudo:
# sudo is used only when not root (a root-only Debian has no sudo).
#   - installs what the build needs (Node.js >= 20 and npm, from Debian) and dehydrated;
#   - builds alpn-responder_<version>_all.deb and installs it (the CLI is /usr/bin/alpn-responder);
#   - starts the daemon on port 443 with its control socket writable by your group:
#       with systemd: alpn-responder.socket (enabled, so it comes back after a reboot);
#       without systemd (a container): `alpn-responder serve` in the background, logging to
#       /var/log/alpn-responder.log (stop it with: kill "$(cat /run/alpn-responder.pid)").
# Nothing stays in the foreground. Then: `alpn-responder status`, `alpn-responder doctor`.

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
say "start the daemon (control socket group: $GROUP)"
if [[ -d /run/systemd/system ]]; then
  as_root mkdir -p /etc/systemd/system/alpn-responder.socket.d
  printf '[Socket]\nSocketGroup=%s\n' "$GROUP" | as_root tee /etc/systemd/system/alpn-responder.socket.d/quick-start.conf >/dev/null
  as_root systemctl daemon-reload
  as_root systemctl enable --now alpn-responder.socket
  echo "alpn-responder.socket is listening; systemd starts the daemon at the first connection (systemctl status alpn-responder)"
else
  if [[ -f /run/alpn-responder.pid ]] && kill -0 "$(cat /run/alpn-responder.pid)" 2>/dev/null; then
    as_root kill "$(cat /run/alpn-responder.pid)"
    while kill -0 "$(cat /run/alpn-responder.pid)" 2>/dev/null; do sleep 0.1; done
  fi
  # $1 and $! belong to the inner shell, which runs as root.
  # shellcheck disable=SC2016
  as_root sh -c 'mkdir -p /run/alpn-responder && setsid alpn-responder serve --control-group "$1" >>/var/log/alpn-responder.log 2>&1 </dev/null & echo $! >/run/alpn-responder.pid' sh "$GROUP"
  for _ in $(seq 300); do
    [[ -S /run/alpn-responder/control.sock ]] && break
    kill -0 "$(cat /run/alpn-responder.pid)" 2>/dev/null || break
    sleep 0.1
  done
  echo "no systemd here: alpn-responder serve runs in the background (pid $(cat /run/alpn-responder.pid), log /var/log/alpn-responder.log)"
fi

say "alpn-responder doctor --quick"
alpn-responder doctor --quick
