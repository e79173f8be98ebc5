#!/usr/bin/env bash
# The whole test suite: installs what the tests need, builds in Release, runs every test project, and ends
# with one line "N passed, N failed[, N skipped]" counted from the test results.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-prerequisites.sh test
dotnet build CeleryActors.sln -c Release -nologo -v quiet
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
status=0
# One run per test project, each with its own results folder: trx files of one run are named by time only.
for project in tests/*/*.csproj; do
  name=$(basename "$project" .csproj)
  dotnet test "$project" -c Release --no-build -nologo --logger trx --results-directory "$results/$name" || status=$?
done
passed=0; failed=0; skipped=0
for trx in "$results"/*/*.trx; do
  [ -e "$trx" ] || continue
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -1)
  get() { echo "$counters" | grep -o " $1=\"[0-9]*\"" | grep -o '[0-9]*'; }
  passed=$((passed + $(get passed)))
  failed=$((failed + $(get failed) + $(get error) + $(get timeout) + $(get aborted)))
  skipped=$((skipped + $(get notExecuted)))
done
if [ "$passed" -eq 0 ] && [ "$failed" -eq 0 ] && [ "$status" -ne 0 ]; then failed=1; fi
line="$passed passed, $failed failed"
[ "$skipped" -gt 0 ] && line="$line, $skipped skipped"
echo "$line"
exit $status
