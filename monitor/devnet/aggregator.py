"""The devnet's movable Chainlink-style price feed, compiled offline with solc-js and cached.

@aave/core-v3 ships only a MockAggregator without a setter, so ours (contracts/MockAggregator.sol)
is compiled here from source with the npm `solc` package through `node`, once per source change.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from monitor.devnet.artifacts import Artifact, ArtifactError, node_modules

SOURCE = Path(__file__).with_name("contracts") / "MockAggregator.sol"
CONTRACT = "MockAggregator"
SETTINGS: dict[str, Any] = {
    "optimizer": {"enabled": True, "runs": 200},
    "evmVersion": "paris",  # runs on any post-merge chain, whatever anvil's default hardfork
    "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}},
}
# Reads standard JSON on stdin, writes solc's standard JSON output on stdout.
COMPILE_JS = """
const solc = require(process.argv[1]);
let input = "";
process.stdin.on("data", (d) => { input += d; });
process.stdin.on("end", () => { process.stdout.write(solc.compile(input)); });
"""


def cache_dir() -> Path:
    """Where compiled output is kept: $MONITOR_CACHE_DIR, else $XDG_CACHE_HOME/monitor."""
    override = os.environ.get("MONITOR_CACHE_DIR")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "monitor"


def _solc_package() -> Path:
    """The solc-js package directory; ArtifactError telling the user to npm install."""
    package = node_modules() / "solc"
    if not (package / "soljson.js").is_file():
        raise ArtifactError(f"solc-js not found at {package}: run `npm install` in the "
                            "repository root")
    return package


def _compile(source: str, solc: Path) -> dict[str, Any]:
    """Compile `source` with solc-js; the contract's abi and bytecode, or ArtifactError."""
    node = shutil.which("node")
    if node is None:
        raise ArtifactError("`node` is not on PATH: install Node.js to compile the aggregator")
    request = {"language": "Solidity", "sources": {SOURCE.name: {"content": source}},
               "settings": SETTINGS}
    done = subprocess.run([node, "-e", COMPILE_JS, str(solc)], input=json.dumps(request),
                          capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        raise ArtifactError(f"solc-js failed: {done.stderr.strip()[-2000:]}")
    output = json.loads(done.stdout)
    errors = [e["formattedMessage"] for e in output.get("errors", []) if e["severity"] == "error"]
    if errors:
        raise ArtifactError("MockAggregator.sol does not compile:\n" + "\n".join(errors))
    contract = output["contracts"][SOURCE.name][CONTRACT]
    return {"abi": contract["abi"], "bytecode": "0x" + contract["evm"]["bytecode"]["object"]}


def aggregator_artifact() -> Artifact:
    """The compiled MockAggregator, from the cache when source, compiler and settings match."""
    source = SOURCE.read_text()
    solc = _solc_package()
    version = json.loads((solc / "package.json").read_text())["version"]
    key = hashlib.sha256(json.dumps([source, version, SETTINGS]).encode()).hexdigest()[:16]
    cached = cache_dir() / f"{CONTRACT}-{key}.json"
    if cached.is_file():
        compiled = json.loads(cached.read_text())
    else:
        compiled = _compile(source, solc)
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps(compiled))
        partial.replace(cached)  # atomic: parallel test workers never read half a file
    return Artifact(CONTRACT, compiled["abi"], compiled["bytecode"], {})
