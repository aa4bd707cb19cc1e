#!/usr/bin/env bash
# Builds clstr's release archives into DIR (default dist/): one per
# platform, each with the clstr binary, README.md and docs/,
# and, since a node's sandbox runs a Linux clstr, clstr-netd-linux-amd64
# and -arm64 beside it (clstr finds them there when the Docker daemon is
# not its own system and architecture). SHA256SUMS lists every archive.
# Nothing is published. Usage: release/build.sh [DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-dist}
version=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
platforms="linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"

build() { # GOOS GOARCH OUTPUT
  CGO_ENABLED=0 GOOS=$1 GOARCH=$2 go build -trimpath -buildvcs=auto -o "$3" ./cmd/clstr
}

for arch in amd64 arm64; do
  build linux "$arch" "$work/clstr-netd-linux-$arch"
done
for p in $platforms; do
  os=${p%/*} arch=${p#*/}
  name="clstr-$version-$os-$arch"
  dir="$work/$name"
  mkdir -p "$dir"
  exe=clstr
  [ "$os" = windows ] && exe=clstr.exe
  if [ "$os" = linux ]; then
    cp "$work/clstr-netd-linux-$arch" "$dir/$exe"
  else
    build "$os" "$arch" "$dir/$exe"
  fi
  cp "$work"/clstr-netd-linux-* "$dir/"
  cp README.md "$dir/"
  cp -r docs "$dir/docs"
  if [ "$os" = windows ]; then
    (cd "$work" && rm -f "$name.zip" && python3 -c 'import shutil,sys; shutil.make_archive(sys.argv[1], "zip", ".", sys.argv[2])' "$name" "$name")
    mv "$work/$name.zip" "$out/"
  else
    tar -C "$work" -czf "$out/$name.tar.gz" "$name"
  fi
done
(cd "$out" && sha256sum clstr-"$version"-* > SHA256SUMS && cat SHA256SUMS)
