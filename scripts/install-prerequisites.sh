#!/usr/bin/env bash
# Installs the Debian packages the node and its tests use, if any is missing: redis-server (the node's
# private Redis and every test fixture), prometheus/promtool (scrape tests), python3-celery (Celery tests),
# python3-redis and python3-pytest (the Python client's tests).
# Usage: scripts/install-prerequisites.sh [node|test]   (node: redis-server only)
set -euo pipefail
what=${1:-test}
declare -A packages=([redis-server]=redis-server)
if [ "$what" = test ]; then
  packages[prometheus]=prometheus
  packages[promtool]=prometheus
fi
missing=()
for cmd in "${!packages[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${packages[$cmd]}")
done
if [ "$what" = test ] && ! /usr/bin/python3 -c 'import celery' >/dev/null 2>&1; then
  missing+=(python3-celery python3-redis)
fi
if [ "$what" = test ] && ! /usr/bin/python3 -c 'import redis' >/dev/null 2>&1; then
  missing+=(python3-redis)
fi
if [ "$what" = test ] && ! /usr/bin/python3 -c 'import pytest' >/dev/null 2>&1; then
  missing+=(python3-pytest)
fi
[ ${#missing[@]} -eq 0 ] && exit 0
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "Installing ${missing[*]} with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
