#!/usr/bin/env bash
# Runs clstr test in the challenge directory and says where the JUnit file
# and the report are. The exit status is clstr's: 0 passed, 1 the program
# failed a test, 2 clstr could not judge.
set -uo pipefail
results="${CLSTR_RESULTS:-clstr-results}"
args=(test --junit "$results/clstr.xml" --report "$results/report")
[ "${CLSTR_SO_FAR:-true}" = "true" ] && args+=(--so-far)
[ -n "${CLSTR_BINARY:-}" ] && args+=(--binary "$CLSTR_BINARY")
# Extra arguments are split as a shell splits words, without globbing.
set -f
# shellcheck disable=SC2206
[ -n "${CLSTR_ARGS:-}" ] && args+=($CLSTR_ARGS)
set +f
mkdir -p "$results"
clstr "${args[@]}"
status=$?
if [ -n "${GITHUB_OUTPUT:-}" ]; then
  echo "junit=$results/clstr.xml" >> "$GITHUB_OUTPUT"
  echo "report=$results/report" >> "$GITHUB_OUTPUT"
fi
exit "$status"
