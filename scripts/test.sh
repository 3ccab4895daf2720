#!/usr/bin/env bash
# The project's test command: installs what the tests need (Debian packages)
# when it is missing, then builds and runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

need_pkgs=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need_pkgs+=(mosquitto mosquitto-clients)
[ -x /usr/lib/postgresql/15/bin/postgres ] || ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need_pkgs+=(postgresql)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "== installing ${need_pkgs[*]} (Debian packages)"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi
export PATH="$PATH:/usr/sbin"

echo "== build ($(date +%T))"
cargo build --workspace --all-targets
echo "== test ($(date +%T))"
cargo test --workspace
# (The 8-bit backend's own tests run above: `small` is one of e4-backends'
# default features, and the conformance suite covers the small provider.)
echo "== the README's quickstart, as written ($(date +%T))"
bash scripts/test-quickstart.sh
echo "== the C library (bindings/c): C tests under AddressSanitizer, libe4 example, interop with e4 ($(date +%T))"
E4_WORKSPACE_BUILT=1 bash scripts/test-c.sh
echo "== the Python package (bindings/python): wheel in a virtual environment, pytest ($(date +%T))"
bash scripts/test-python.sh
