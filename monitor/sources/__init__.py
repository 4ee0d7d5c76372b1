"""Sources: followers of chains that publish position snapshots and oracle prices; one folder per
protocol, driven by the protocol-agnostic EVM follower in `evm`."""
