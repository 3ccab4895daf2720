#!/usr/bin/env bash
# Tests of the Python package (bindings/python): builds the e4rs wheel with
# maturin, installs it in a virtual environment (target/py-venv) and runs
# pytest. Installs python3-venv from Debian's packages when the machine
# lacks it. Everything comes from the registries (PyPI, crates.io, Debian).
#
# The wheel is built with cargo's dev profile (the workspace's: optimised
# dependencies, unoptimised e4 crates), which shares the dependencies
# `cargo build --workspace` compiled and takes a fraction of a release
# build; `pip install ./bindings/python` without this script builds the
# release wheel users and benchmarks want. E4RS_WHEEL_PROFILE=release
# makes this script build that one too.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
venv="$root/target/py-venv"
start=$(date +%s)

SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
apt_install() {
  echo "== installing $* (Debian packages)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

command -v python3 >/dev/null 2>&1 || apt_install python3 python3-venv

if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
  echo "== virtual environment $venv"
  rm -rf "$venv"
  mkdir -p "$root/target"
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    # Debian's python3 without ensurepip: python3-venv (or the versioned
    # package, e.g. python3.11-venv) provides it.
    rm -rf "$venv"
    ver=$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
    apt_install python3-venv "python${ver}-venv" || apt_install python3-venv
    python3 -m venv "$venv"
  fi
fi
py="$venv/bin/python"
# The build backend runs the venv's maturin executable.
export PATH="$venv/bin:$PATH" VIRTUAL_ENV="$venv"

echo "== pip install maturin pytest"
"$py" -m pip install -q --disable-pip-version-check maturin pytest

profile="${E4RS_WHEEL_PROFILE:-dev}"
echo "== build and install the e4rs wheel (cargo profile: $profile)"
# maturin reads extra arguments of the PEP 517 build from MATURIN_PEP517_ARGS.
MATURIN_PEP517_ARGS="--profile $profile" \
  "$py" -m pip install -q --disable-pip-version-check --no-build-isolation --force-reinstall --no-deps ./bindings/python
built=$(date +%s)
echo "== wheel built and installed in $((built - start)) s"

echo "== pytest bindings/python/tests"
# From the tests folder, so that the installed package (not the source
# tree's python/e4rs without its native module) is imported.
cd "$root/bindings/python/tests"
"$py" -m pytest -q -p no:cacheprovider .
echo "== test-python.sh done in $(( $(date +%s) - start )) s"
