#!/usr/bin/env bash
# Installs the clstr of this action's checkout into the runner's tool
# directory and puts it on the PATH of the steps that follow.
set -euo pipefail
root="${GITHUB_ACTION_PATH:?run as a step of the clstr action}"
bin="${RUNNER_TEMP:?}/clstr-bin"
mkdir -p "$bin"
(cd "$root" && CGO_ENABLED=0 go build -o "$bin/clstr" ./cmd/clstr)
echo "$bin" >> "${GITHUB_PATH:?}"
"$bin/clstr" version
