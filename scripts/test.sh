#!/usr/bin/env bash
# Quick start, step 2: runs CI's tests (.ci/run: shellcheck, the three test lanes, the demo, the Node 24 lane) on this machine.
# As root, or through sudo when not root. Takes 10-20 minutes. Safe beside an installed alpn-responder:
#   - it installs the Debian packages the tests spawn (pebble, dehydrated, uacme, nginx, haproxy, redis-server,
#     socat, shellcheck, lintian, ...; .ci/install-peers prints the list first), starts none of their services and
#     disables those the new packages enabled; the tests run their own copies on free ports, as does the demo;
#   - it does not install, stop, purge or reconfigure alpn-responder: the checks that do (.ci/package-check: the
#     .deb's dpkg -i/-P, install.sh verbatim) run only on CI's throwaway machine (CI=true) or when asked with
#     ALPN_RESPONDER_SYSTEM_CHECKS=yes, and refuse to run while alpn-responder is installed unless CI=true.
set -euo pipefail
cd "$(dirname -- "${BASH_SOURCE[0]}")/.."
# CI and ALPN_RESPONDER_SYSTEM_CHECKS pass through as the caller set them (sudo would drop them).
VARS=(CI="${CI:-}" ALPN_RESPONDER_SYSTEM_CHECKS="${ALPN_RESPONDER_SYSTEM_CHECKS:-}")
if [[ "$(id -u)" -eq 0 ]]; then exec env "${VARS[@]}" bash .ci/run; fi
exec sudo env "${VARS[@]}" bash .ci/run
