#!/usr/bin/env bash
# Runs one host node from the repository. Without REDIS_URL the node starts its own redis-server on loopback
# (installed here with apt if missing). Every setting is an environment variable; see README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${REDIS_URL:-}" ] || scripts/install-prerequisites.sh node
exec dotnet run -c Release --project src/Host -- "$@"
