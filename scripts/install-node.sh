#!/bin/sh
# Installs Node.js 24 from the npm registry (the per-platform binary packages
# node-<os>-<arch>, the same ones the `node` package installs) into
# ${COUNTERSIGN_NODE_HOME:-$HOME/.cache/countersign/node-<version>} and prints its bin
# directory. Nothing is downloaded from anywhere but the configured npm registry.
#   export PATH="$(sh scripts/install-node.sh):$PATH"
set -eu
version="${COUNTERSIGN_NODE_VERSION:-24}"
case "$(uname -s)" in Linux) os=linux ;; Darwin) os=darwin ;; *) echo "install-node: unsupported OS $(uname -s)" >&2; exit 1 ;; esac
case "$(uname -m)" in x86_64|amd64) arch=x64 ;; aarch64|arm64) arch=arm64 ;; *) echo "install-node: unsupported CPU $(uname -m)" >&2; exit 1 ;; esac
pkg="node-$os-$arch"
exact="$(npm view "$pkg@$version" version --json 2>/dev/null | tr -d '[]" \n' | tr ',' '\n' | tail -1)"
[ -n "$exact" ] || { echo "install-node: $pkg@$version is not on the npm registry ($(npm config get registry))" >&2; exit 1; }
home="${COUNTERSIGN_NODE_HOME:-${HOME:-/root}/.cache/countersign/node-v$exact}"
if [ ! -x "$home/bin/node" ]; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack "$pkg@$exact" --silent >/dev/null)
  mkdir -p "$home"
  tar -xzf "$tmp/$pkg-$exact.tgz" -C "$home" --strip-components=1
fi
"$home/bin/node" --version >/dev/null
echo "$home/bin"
