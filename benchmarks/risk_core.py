"""Risk core benchmark: book build, reprice, cluster rebuild, trigger search and array memory
for 1e4, 1e5 and 1e6 positions; prints JSON medians (the same code as `monitor bench`)."""

from __future__ import annotations

import argparse
import sys

from monitor import bench


def main() -> int:
    """Parse `monitor bench`'s options and run it."""
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers()
    bench.register(sub)
    args = parser.parse_args(["bench", *sys.argv[1:]])
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
