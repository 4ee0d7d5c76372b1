"""Chain side: Aave V3 ingestion over JSON-RPC and the local devnet."""
