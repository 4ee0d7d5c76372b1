#!/usr/bin/env bash
# Install everything the product (and, with --test, its tests) needs on a fresh machine:
# a project virtual environment (.venv), the npm packages (anvil, Aave V3 artifacts, Morpho
# Blue's sources, Uniswap v2's build artifacts, solc 0.8.37 and, as solc-0.8.19, the release
# Morpho Blue pins)
# and, for tests, Debian's prometheus, alertmanager (amtool), chromium and chromium-driver (the
# map page's browser test). Safe to run again: it only installs what is missing.
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
   || [ ! -f node_modules/@uniswap/v2-core/build/UniswapV2Factory.json ] \
   || [ ! -f node_modules/@uniswap/v2-periphery/build/UniswapV2Router02.json ] \
   || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing anvil, Aave V3 artifacts, Morpho Blue sources, Uniswap v2 and solc from npm"
  npm install --no-audit --no-fund --loglevel=error
fi

if [ "${1:-}" = "--test" ]; then
  missing=()
  command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
  command -v amtool >/dev/null 2>&1 || missing+=(prometheus-alertmanager)
  [ -x /usr/bin/chromium ] || missing+=(chromium fonts-dejavu-core)
  [ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]} (Debian packages the tests run)"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >/dev/null
  fi
fi
exit 0
