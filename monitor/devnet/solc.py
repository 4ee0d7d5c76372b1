"""Solidity compiled offline with solc-js (the npm `solc` package, or an older release installed
under an alias) through `node`, and cached by sources, compiler and settings, so the devnet can
deploy contracts that ship as sources only (our MockAggregator, Morpho Blue)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from monitor.devnet.artifacts import Artifact, ArtifactError, node_modules

# Reads standard JSON on stdin, writes solc's standard JSON output on stdout.
COMPILE_JS = """
const solc = require(process.argv[1]);
let input = "";
process.stdin.on("data", (d) => { input += d; });
process.stdin.on("end", () => { process.stdout.write(solc.compile(input)); });
"""
OUTPUTS = ["abi", "evm.bytecode.object"]


def cache_dir() -> Path:
    """Where compiled output is kept: $MONITOR_CACHE_DIR, else $XDG_CACHE_HOME/monitor."""
    override = os.environ.get("MONITOR_CACHE_DIR")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "monitor"


def solc_package(name: str) -> Path:
    """The solc-js package directory node_modules/`name`; ArtifactError telling the user to
    npm install."""
    package = node_modules() / name
    if not (package / "soljson.js").is_file():
        raise ArtifactError(f"solc-js not found at {package}: run `npm install` in the "
                            "repository root")
    return package


def _run_solc(request: dict[str, Any], solc: Path) -> dict[str, Any]:
    """solc's standard JSON output for `request`, or ArtifactError with its errors."""
    node = shutil.which("node")
    if node is None:
        raise ArtifactError("`node` is not on PATH: install Node.js to compile the devnet's "
                            "contracts")
    done = subprocess.run([node, "-e", COMPILE_JS, str(solc)], input=json.dumps(request),
                          capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        raise ArtifactError(f"solc-js failed: {done.stderr.strip()[-2000:]}")
    output: dict[str, Any] = json.loads(done.stdout)
    errors = [e["formattedMessage"] for e in output.get("errors", []) if e["severity"] == "error"]
    if errors:
        raise ArtifactError("the devnet's contracts do not compile:\n" + "\n".join(errors))
    return output


def compile_contracts(sources: Mapping[str, str], contracts: Sequence[tuple[str, str]],
                      package: str, settings: Mapping[str, Any]) -> dict[str, Artifact]:
    """The (source file, contract name) `contracts` compiled from `sources` (file -> text) with
    node_modules/`package`, by contract name; from the cache when nothing changed."""
    solc = solc_package(package)
    version = json.loads((solc / "package.json").read_text())["version"]
    key = hashlib.sha256(json.dumps([sorted(sources.items()), list(contracts), version,
                                     settings]).encode()).hexdigest()[:16]
    cached = cache_dir() / f"{contracts[0][1]}-{key}.json"
    if cached.is_file():
        compiled = json.loads(cached.read_text())
    else:
        selection: dict[str, dict[str, list[str]]] = {}
        for path, name in contracts:
            selection.setdefault(path, {})[name] = OUTPUTS
        output = _run_solc({"language": "Solidity",
                            "sources": {p: {"content": text} for p, text in sources.items()},
                            "settings": {**settings, "outputSelection": selection}}, solc)
        compiled = {name: {"abi": output["contracts"][path][name]["abi"],
                           "bytecode": "0x" + output["contracts"][path][name]["evm"]
                           ["bytecode"]["object"]} for path, name in contracts}
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps(compiled))
        partial.replace(cached)  # atomic: parallel test workers never read half a file
    return {name: Artifact(name, c["abi"], c["bytecode"], {}) for name, c in compiled.items()}
