#!/usr/bin/env bash
# Install everything the product (and, with --test, its tests) needs on a fresh machine:
# a project virtual environment (.venv), the npm packages (anvil, Aave V3 artifacts, Morpho
# Blue's sources, solc 0.8.37 and, as solc-0.8.19, the release Morpho Blue pins)
# and, for tests, Debian's prometheus and prometheus-alertmanager. Safe to run again: it only
# installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating the virtual environment $VENV"
  "$PYTHON" -m venv "$VENV"
fi
if [ ! -f "$VENV/.installed" ] || [ pyproject.toml -nt "$VENV/.installed" ]; then
  echo "setup: installing Python packages into $VENV (pip install -e '.[dev]')"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e '.[dev]'
  touch "$VENV/.installed"
fi

if [ ! -x node_modules/.bin/anvil ] || [ ! -d node_modules/@aave/core-v3/artifacts ] \
   || [ ! -f node_modules/@morpho-org/morpho-blue/src/Morpho.sol ] \
   || [ ! -f node_modules/solc/soljson.js ] || [ ! -f node_modules/solc-0.8.19/soljson.js ] \
   || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing anvil, Aave V3 artifacts, Morpho Blue sources and solc from npm"
  npm install --no-audit --no-fund --loglevel=error
fi

apt_install() {  # apt_install COMMAND PACKAGE: the Debian package, unless COMMAND is there
  command -v "$1" >/dev/null 2>&1 && return 0
  echo "setup: installing $1 (Debian package $2)"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$2" >/dev/null
}
if [ "${1:-}" = "--test" ]; then
  apt_install promtool prometheus
  apt_install prometheus-alertmanager prometheus-alertmanager
fi
exit 0
