"""Raw JSON-RPC logs of an ABI event encoded with eth_abi, and web3's own decoding of them: the
slow, independent path the fast decoder's tests compare with."""

from __future__ import annotations

from typing import Any

from eth_abi.abi import encode
from web3 import Web3


def canonical_type(inp: dict[str, Any]) -> str:
    """An ABI input's canonical type (tuples spelt out)."""
    if inp["type"] == "tuple":
        return f"({','.join(canonical_type(c) for c in inp['components'])})"
    return str(inp["type"])


def encoded_log(entry: dict[str, Any], values: list[Any]) -> dict[str, Any]:
    """A raw JSON-RPC log of `entry` with `values`, encoded with eth_abi per the ABI."""
    signature = f"{entry['name']}({','.join(canonical_type(i) for i in entry['inputs'])})"
    topics = ["0x" + Web3.keccak(text=signature).hex().removeprefix("0x")]
    data_types, data_values = [], []
    for inp, value in zip(entry["inputs"], values, strict=True):
        if inp["indexed"]:
            topics.append("0x" + encode([canonical_type(inp)], [value]).hex())
        else:
            data_types.append(canonical_type(inp))
            data_values.append(value)
    return {"address": "0x" + "ab" * 20, "topics": topics,
            "data": "0x" + encode(data_types, data_values).hex(), "blockNumber": "0x1b4",
            "logIndex": "0x7", "blockHash": "0x" + "11" * 32, "transactionHash": "0x" + "22" * 32,
            "transactionIndex": "0x0", "removed": False}


def web3_args(contract: Any, name: str, raw: dict[str, Any]) -> dict[str, Any]:
    """web3's own decoding of a raw log (the slow path the fast decoder replaces)."""
    formatted = {
        "address": Web3.to_checksum_address(raw["address"]),
        "topics": [bytes.fromhex(t[2:]) for t in raw["topics"]],
        "data": bytes.fromhex(raw["data"][2:]), "blockNumber": int(raw["blockNumber"], 16),
        "logIndex": int(raw["logIndex"], 16), "blockHash": bytes.fromhex(raw["blockHash"][2:]),
        "transactionHash": bytes.fromhex(raw["transactionHash"][2:]), "transactionIndex": 0}
    return dict(contract.events[name]().process_log(formatted)["args"])
