#!/usr/bin/env bash
# Install everything the product and its tests need on a fresh machine; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
want_services=${1:-}

if ! "$PYTHON" -c "import monitor, faust, web3, hypothesis" >/dev/null 2>&1 \
   || [ pyproject.toml -nt .setup-stamp ]; then
  echo "setup: installing Python packages (pip install -e '.[dev]')"
  "$PYTHON" -m pip install --quiet --disable-pip-version-check -e '.[dev]'
  touch .setup-stamp
fi

if [ ! -x node_modules/.bin/anvil ] || [ ! -d node_modules/@aave/core-v3/artifacts ] \
   || [ package.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing anvil, Aave V3 artifacts and solc from npm"
  npm install --no-audit --no-fund --loglevel=error
fi

if [ "$want_services" = "--test" ] && ! command -v promtool >/dev/null 2>&1; then
  echo "setup: installing Prometheus and promtool (Debian package)"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq prometheus >/dev/null
fi
