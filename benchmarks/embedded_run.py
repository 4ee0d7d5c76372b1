"""Benchmark: seconds from starting `monitor run` to non-empty /clusters/ and /cascades/{asset}/.

python benchmarks/embedded_run.py [--repeat 3] [-- extra `monitor run` arguments]
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any

from monitor.localhost import free_port

DEADLINE_S = 120.0


def get_json(url: str) -> Any:
    """GET a JSON document; None while the server is not up or answers an error."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def time_to_serve(extra: list[str]) -> float:
    """Start `monitor run`, poll until clusters and a cascade are served, stop it."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "monitor", "run", "--web-port", str(port), *extra]
    started = time.monotonic()
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.monotonic() - started < DEADLINE_S:
            index = get_json(f"{base}/clusters/")
            assets = [a["asset"] for a in index["assets"]] if index else []
            if assets and get_json(f"{base}/cascades/{assets[0]}/"):
                return time.monotonic() - started
            time.sleep(0.2)
        raise RuntimeError(f"nothing served within {DEADLINE_S}s: {' '.join(cmd)}")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


def main() -> None:
    """Print the median time to serve for the default (devnet) and the scenario feed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    feeds = {"devnet": [], "scenario": ["--feed", "scenario", "--positions", "10000"]}
    result: dict[str, Any] = {"benchmark": "embedded_run", "repeat": args.repeat}
    for name, extra in feeds.items():
        samples = [time_to_serve(extra) for _ in range(args.repeat)]
        result[f"{name}_seconds_to_serve_median"] = round(statistics.median(samples), 2)
        result[f"{name}_seconds_to_serve_max"] = round(max(samples), 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
