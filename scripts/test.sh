#!/usr/bin/env bash
# Quick start, step 2: installs the test peers (pebble, dehydrated, uacme, nginx, ...) and runs every test lane of
# CI (.ci/run: the three test lanes, the package checks, Node 24). As root, or through sudo when not root.
# Takes 10-20 minutes.
set -euo pipefail
cd "$(dirname -- "${BASH_SOURCE[0]}")/.."
if [[ "$(id -u)" -eq 0 ]]; then exec env CI=true bash .ci/run; fi
exec sudo env CI=true bash .ci/run
