#!/usr/bin/env bash
# The one test command: installs what the interop tests need on a fresh Debian/Ubuntu
# machine, then runs the whole suite. A missing tool fails the run; nothing is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v openssl >/dev/null || need_apt+=(openssl)
command -v python3 >/dev/null || need_apt+=(python3)
if ((${#need_apt[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        echo "tests/run.sh: missing ${need_apt[*]}; install them (apt-get install ${need_apt[*]}) and re-run" >&2
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi

for tool in openssl cargo; do
    command -v "$tool" >/dev/null || { echo "tests/run.sh: $tool is required" >&2; exit 1; }
done
openssl version

cargo test --locked "$@"
