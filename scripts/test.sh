#!/usr/bin/env bash
# The whole test suite: installs what the tests need, builds in Release, runs every test project and the
# Python client's tests, and ends with one line "N passed, N failed[, N skipped]" counted from the results.
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
# The Python client (clients/python) against the node just built; Debian's interpreter, which has
# python3-redis and python3-pytest (a pyenv python on PATH may not).
mkdir -p "$results/python"
PYTHONPATH=clients/python PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 -m pytest clients/python/tests -q \
  -p no:cacheprovider --junitxml="$results/python/junit.xml" || status=$?
passed=0; failed=0; skipped=0
get() { echo "$counters" | grep -o " $1=\"[0-9]*\"" | grep -o '[0-9]*' || echo 0; }
for trx in "$results"/*/*.trx; do
  [ -e "$trx" ] || continue
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -1)
  passed=$((passed + $(get passed)))
  failed=$((failed + $(get failed) + $(get error) + $(get timeout) + $(get aborted)))
  skipped=$((skipped + $(get notExecuted)))
done
junit="$results/python/junit.xml"
if [ -e "$junit" ]; then
  counters=$(grep -o '<testsuite [^>]*>' "$junit" | head -1)
  py_failed=$(($(get failures) + $(get errors)))
  passed=$((passed + $(get tests) - py_failed - $(get skipped)))
  failed=$((failed + py_failed))
  skipped=$((skipped + $(get skipped)))
else
  failed=$((failed + 1)) # pytest did not even write its report
fi
if [ "$passed" -eq 0 ] && [ "$failed" -eq 0 ] && [ "$status" -ne 0 ]; then failed=1; fi
line="$passed passed, $failed failed"
[ "$skipped" -gt 0 ] && line="$line, $skipped skipped"
echo "$line"
exit $status
