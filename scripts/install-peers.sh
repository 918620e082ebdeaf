#!/usr/bin/env bash
# Installs (apt-get, Debian 12) every real program the tests and the benchmark
# talk to, from scripts/test-peers.txt; installs nothing that is there already.
# Run as root. .ci/run runs it; `npm test` says to when a peer is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
need=()
while read -r check pkg _; do
  case "$check" in
    ''|'#'*) continue ;;
    *:*) [ -x "${check%%:*}" ] && "${check%%:*}" -c "import ${check#*:}" >/dev/null 2>&1 && continue ;;
    /*) [ -e "$check" ] && continue ;;
    *) command -v "$check" >/dev/null 2>&1 && continue ;;
  esac
  case " ${need[*]-} " in *" $pkg "*) ;; *) need+=("$pkg") ;; esac
done < scripts/test-peers.txt
if [ "${#need[@]}" -gt 0 ]; then
  echo "installing: ${need[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# The Debian nginx package starts a system nginx on :80; the tests run their own.
if command -v systemctl >/dev/null 2>&1; then systemctl stop nginx >/dev/null 2>&1 || true; fi
if [ -s /run/nginx.pid ]; then kill "$(cat /run/nginx.pid)" >/dev/null 2>&1 || true; fi
