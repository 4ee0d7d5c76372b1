"""Compiled contracts (hardhat artifacts of @aave/core-v3, solc output) as deployable code plus a
lean ABI codec, so the devnet deploys and calls the real protocol without web3 contract objects."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from eth_abi.abi import decode, encode
from eth_typing import ABIConstructor, ABIFunction
from eth_utils.abi import (
    function_abi_to_4byte_selector,
    get_abi_input_types,
    get_abi_output_types,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
AAVE_ARTIFACTS = Path("@aave/core-v3/artifacts/contracts")

AbiEntry = dict[str, Any]


class ArtifactError(RuntimeError):
    """A contract artifact is missing, ambiguous or cannot be linked."""


def node_modules() -> Path:
    """The npm packages the devnet runs from: $MONITOR_NODE_MODULES, else the repo's or cwd's."""
    override = os.environ.get("MONITOR_NODE_MODULES")
    candidates = [Path(override)] if override else [REPO_ROOT / "node_modules",
                                                    Path.cwd() / "node_modules"]
    for candidate in candidates:
        if (candidate / AAVE_ARTIFACTS).is_dir():
            return candidate
    raise ArtifactError(
        f"@aave/core-v3 artifacts not found under {', '.join(map(str, candidates))}: "
        f"run `npm install` in the repository root ({REPO_ROOT})")


@dataclass(frozen=True, eq=False)
class Artifact:
    """A contract's ABI, creation bytecode (hex, maybe with library placeholders) and links.

    Compared and hashed by identity: each artifact is loaded once and its codec cached on it."""

    name: str
    abi: list[AbiEntry]
    bytecode: str
    link_references: Mapping[str, Mapping[str, Sequence[Mapping[str, int]]]]

    def linked(self, libraries: Mapping[str, str]) -> str:
        """Creation bytecode with each library placeholder overwritten by its deployed address."""
        code = list(self.bytecode.removeprefix("0x"))
        for refs in self.link_references.values():
            for lib, spots in refs.items():
                if lib not in libraries:
                    raise ArtifactError(f"{self.name} needs library {lib}, not deployed yet")
                address = libraries[lib].removeprefix("0x").lower()
                for spot in spots:
                    start = 2 * spot["start"]
                    code[start:start + 40] = address
        return "0x" + "".join(code)

    def deploy_data(self, *args: Any, libraries: Mapping[str, str] | None = None) -> str:
        """Creation transaction data: linked bytecode followed by the encoded constructor args."""
        code = self.linked(libraries or {}) if self.link_references else self.bytecode
        ctor = next((e for e in self.abi if e["type"] == "constructor"), None)
        if ctor is None:
            return code
        return code + encode(get_abi_input_types(cast(ABIConstructor, ctor)), args).hex()

    def function(self, name: str, arity: int | None = None) -> AbiEntry:
        """The ABI entry of function `name` (overloads told apart by argument count)."""
        found = [e for e in self.abi if e["type"] == "function" and e["name"] == name
                 and (arity is None or len(e["inputs"]) == arity)]
        if len(found) != 1:
            raise ArtifactError(f"{self.name}.{name}/{arity}: {len(found)} ABI matches")
        return found[0]

    def call_data(self, name: str, *args: Any) -> str:
        """Call data for function `name` with `args` (hex, 0x-prefixed)."""
        entry = _cached_entry(self, name, len(args))
        return "0x" + entry.selector + encode(entry.inputs, args).hex()

    def decode_output(self, name: str, data: str, arity: int = 0) -> tuple[Any, ...]:
        """The decoded return values of function `name` from an eth_call's hex result."""
        entry = _cached_entry(self, name, arity)
        return tuple(decode(entry.outputs, bytes.fromhex(data.removeprefix("0x"))))


@dataclass(frozen=True)
class _Entry:
    """A function's selector and argument/return types, computed once per artifact."""

    selector: str
    inputs: list[str]
    outputs: list[str]


@functools.cache
def _cached_entry(artifact: Artifact, name: str, arity: int) -> _Entry:
    """Selector and types of one function; cached because seeding encodes thousands of calls."""
    entry = cast(ABIFunction, artifact.function(name, arity))
    return _Entry(function_abi_to_4byte_selector(entry).hex(), get_abi_input_types(entry),
                  get_abi_output_types(entry))


@functools.cache
def _aave_index() -> dict[str, list[Path]]:
    """Contract name -> artifact files under @aave/core-v3 (debug files excluded)."""
    index: dict[str, list[Path]] = {}
    for path in (node_modules() / AAVE_ARTIFACTS).rglob("*.json"):
        if not path.name.endswith(".dbg.json"):
            index.setdefault(path.stem, []).append(path)
    return index


@functools.cache
def aave(name: str) -> Artifact:
    """The @aave/core-v3 hardhat artifact of contract `name` (e.g. "Pool", "MintableERC20")."""
    paths = _aave_index().get(name, [])
    if len(paths) != 1:
        raise ArtifactError(f"@aave/core-v3 has {len(paths)} artifacts named {name!r}")
    return from_hardhat(paths[0])


def from_hardhat(path: Path) -> Artifact:
    """Read one hardhat artifact file."""
    doc = json.loads(path.read_text())
    return Artifact(doc["contractName"], doc["abi"], doc["bytecode"], doc.get("linkReferences", {}))
