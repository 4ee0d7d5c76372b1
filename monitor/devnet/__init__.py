"""A local chain for tests, benchmarks and `monitor devnet`: Anvil running the real Aave V3
contracts with seeded positions, and the tools that deploy, drive and liquidate on it."""
