"""Benchmark: the positions path against the framework's own ceiling, as the book grows, and
its recovery.

python benchmarks/pipeline.py [--events 50000] [--repeat 3] [--growth 100000,500000]
                              [--growth-repeat 3]
                              [--recovery 100000,1000000] [--stores memory://,rocksdb://]
                              [--quick]

consumers: one broker, --events snapshots preloaded into `positions` once; each round reads
that same topic from the start with a raw aiokafka consumer (orjson decode), an empty Faust
agent, a Faust agent writing one table entry per event (Faust's `table[k] = v`) and the
product's worker (`monitor worker`: placement, keeper, table, book, partials), interleaved;
medians of --repeat rounds and the ratios of the product to each.
growth: for each --growth size, --growth-repeat times, a fresh broker with that many distinct
positions, loaded first by a Faust agent writing one table entry per event (the baseline) and
then by a fresh worker; the rate between 5 % and 20 % of the load (start) and between 80 % and
95 % (end) of both, the CPU µs per event of the worker and of the broker in each window, and
RSS growth per position (from the first applied snapshot to the end); medians of the runs;
and per run, each kind of derived pass's µs per event in both windows (partials, alert scans,
cascade and contagion projections: the work that could grow with the book), in wall time (the
sends a pass awaits and the contagion's paced pauses included; a pass counts in the window it
ends in).
recovery: for each size and store, the snapshot table's changelog written as the keeper writes
it, then a worker started on it: seconds to ready with every position in its books (cold: an
empty data directory), and for RocksDB a restart on the same data directory (warm); RSS per
position after the recovery (over an idle worker's, whose own start-to-ready time is given as
empty_ready_s: what a restart costs with nothing to recover).

The Faust baselines run in child processes of this script (`--agent empty|table`), built with
the product's own app factory and table declaration. Progress goes to stderr; one JSON object
to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import aiohttp
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from designs import PARTITIONS, ROOT, Design, get, preload, snapshot, worker_running
from prometheus_client.parser import text_string_to_metric_families

from monitor.config import Settings
from monitor.localhost import free_port
from monitor.run.broker import EmbeddedBroker
from monitor.stream.app import new_app
from monitor.stream.context import Context, partition_of
from monitor.stream.positions.stored import stored_value
from monitor.stream.worker import serve
from monitor.wire import POSITIONS, parse_snapshot

TIMEOUT_S = 1800.0
PRODUCT = Design("product", ROOT)
SNAPSHOT_TABLE = "position-snapshots"
STORES = ("memory://", "rocksdb://")


def say(text: str) -> None:
    """Progress on stderr."""
    print(f"pipeline: {text}", file=sys.stderr, flush=True)


class Sample(NamedTuple):
    """A worker observed: when, positions held, RSS bytes, CPU seconds used so far (its own
    and the broker's), and at the window marks the seconds each kind of derived pass has
    taken so far (its /metrics)."""

    t: float
    held: int
    rss: int
    cpu: float
    broker_cpu: float
    passes: dict[str, float] | None = None


class Rate(NamedTuple):
    """A consumer's events/s and the CPU µs it spent per event (steadier than the rate on a
    shared machine: the rate also counts the time other processes held the cores)."""

    events_per_s: float
    cpu_us_per_event: float


def rss_bytes(pid: int) -> int:
    """Resident set size of a process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def raw_rate(bootstrap: str, events: int) -> Rate:
    """Events/s of a plain aiokafka consumer decoding each value, first record to last."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        consumer.assign([TopicPartition(POSITIONS, p) for p in range(PARTITIONS)])
        await consumer.seek_to_beginning()
        count, first, cpu = 0, 0.0, 0.0
        while count < events:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            for records in batches.values():
                if not first:
                    first, cpu = time.perf_counter(), time.process_time()
                for record in records:
                    orjson.loads(record.value)
                count += len(records)
        return Rate(count / (time.perf_counter() - first),
                    (time.process_time() - cpu) / count * 1e6)
    finally:
        await consumer.stop()


START, END = (0.05, 0.2), (0.8, 0.95)


def agent_main(mode: str, broker: str, events: int, app_id: str, port: int,
               data: Path) -> None:
    """Child process: an empty Faust agent, or one writing table[key] = value per event, on
    the product's app and table declarations; prints its events/s (overall, and over the
    start and end windows of the growth section) and exits."""
    settings = Settings(broker=broker, broker_flavor="tansu", web_port=port, data_dir=data,
                        app_id=app_id, partitions=PARTITIONS, rebalance_timeout=4,
                        session_timeout=4, heartbeat_interval=0.5)
    ctx = Context(new_app(settings), settings)
    table = ctx.table("bench-table", raw_values=True)
    marks = {max(1, round(f * events)) for f in (*START, *END)} | {1, events}
    seen = 0
    at: dict[int, tuple[float, float]] = {}

    def rate(lo: int, hi: int) -> dict[str, float]:
        """The rate between two marked counts."""
        (t0, c0), (t1, c1) = at[lo], at[hi]
        return Rate((hi - lo) / (t1 - t0), (c1 - c0) / (hi - lo) * 1e6)._asdict()

    async def consume(stream: Any) -> None:
        """Count (and store) every event; report at the last."""
        nonlocal seen
        async for event in stream.events():
            if mode == "table":
                table[event.key.decode()] = event.value
            seen += 1
            if seen in marks:
                at[seen] = (time.perf_counter(), cpu_seconds(os.getpid()))
            if seen == events:
                window = {name: rate(*(max(1, round(f * events)) for f in fractions))
                          for name, fractions in (("start", START), ("end", END))}
                report = {**rate(1, events), **window}
                os.write(1, orjson.dumps(report) + b"\n")  # Faust owns sys.stdout
                os._exit(0)

    ctx.app.agent(ctx.topic(POSITIONS), name=f"bench-{mode}")(consume)
    serve(ctx.app, "warning")


def agent_report(mode: str, broker: EmbeddedBroker, events: int, tmp: Path) -> dict[str, Any]:
    """What a Faust baseline agent in a child process reported."""
    app_id = f"bench-{mode}-{time.time_ns()}"
    child = subprocess.run(
        [sys.executable, __file__, "--agent", mode, "--broker", broker.url,
         "--events", str(events), "--app-id", app_id, "--port", str(free_port()),
         "--data", str(tmp / app_id)],
        capture_output=True, timeout=TIMEOUT_S, env={**os.environ, "PYTHONPATH": str(ROOT)})
    for line in child.stdout.decode().splitlines():
        if line.startswith("{"):
            report: dict[str, Any] = json.loads(line)
            return report
    raise RuntimeError(f"{mode} agent reported nothing: {child.stderr.decode()[-2000:]}")


def agent_rate(mode: str, broker: EmbeddedBroker, events: int, tmp: Path) -> Rate:
    """Events/s of a Faust baseline agent, first event to last."""
    report = agent_report(mode, broker, events, tmp)
    return Rate(report["events_per_s"], report["cpu_us_per_event"])


async def held(session: aiohttp.ClientSession, base: str) -> tuple[bool, int]:
    """(ready, positions in the books) of a worker (its /health/)."""
    status, body = await get(session, f"{base}/health/")
    if not isinstance(body, dict):
        return False, 0
    return status == 200, int(body.get("positions", 0))


async def pass_seconds(session: aiohttp.ClientSession, base: str) -> dict[str, float]:
    """Seconds each kind of derived pass (partials, scans, projections...) has taken so far."""
    async with session.get(f"{base}/metrics") as response:
        text = await response.text()
    return {sample.labels["work"]: sample.value
            for family in text_string_to_metric_families(text)
            if family.name == "monitor_recompute_pass_seconds"
            for sample in family.samples if sample.name.endswith("_sum")}


async def sample_load(base: str, pid: int, events: int, every: float,
                      broker_pid: int) -> list[Sample]:
    """Samples of a worker (and the broker's CPU) from its first held position until it
    holds `events`; the ones past each window mark also read the passes' seconds."""
    samples: list[Sample] = []
    marks = sorted(mark * events for mark in (*START, *END))
    started = time.monotonic()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        while True:
            _, count = await held(session, base)
            if count:
                passes = None
                if marks and count >= marks[0]:
                    marks = [mark for mark in marks if mark > count]
                    passes = await pass_seconds(session, base)
                samples.append(Sample(time.perf_counter(), count, rss_bytes(pid),
                                      cpu_seconds(pid), cpu_seconds(broker_pid), passes))
                if count >= events:
                    return samples
            if time.monotonic() - started > TIMEOUT_S:
                raise TimeoutError(f"worker held {count} of {events} positions")
            await asyncio.sleep(every)


def window(samples: list[Sample], lo: float, hi: float) -> tuple[Sample, Sample]:
    """The first samples past fractions `lo` and `hi` of the final count."""
    total = samples[-1].held
    a = next(s for s in samples if s.held >= lo * total)
    b = next(s for s in samples if s.held >= hi * total)
    if b.held == a.held:
        raise RuntimeError("too few samples: load more events")
    return a, b


def rate_between(samples: list[Sample], lo: float, hi: float) -> Rate:
    """The worker's rate between fractions `lo` and `hi` of the final count."""
    a, b = window(samples, lo, hi)
    return Rate((b.held - a.held) / (b.t - a.t), (b.cpu - a.cpu) / (b.held - a.held) * 1e6)


def pass_us(samples: list[Sample], lo: float, hi: float) -> dict[str, float]:
    """Each kind of derived pass's wall µs per event the worker applied between fractions `lo`
    and `hi` (read at the samples past the marks: the load's total is the events asked for)."""
    a, b = window(samples, lo, hi)
    if a.passes is None or b.passes is None:
        return {}
    return {name: round((b.passes[name] - a.passes.get(name, 0.0)) / (b.held - a.held) * 1e6,
                        1) for name in sorted(b.passes)}


def broker_cpu_us(samples: list[Sample], lo: float, hi: float) -> float:
    """The broker's CPU µs per event the worker applied between fractions `lo` and `hi`."""
    a, b = window(samples, lo, hi)
    return (b.broker_cpu - a.broker_cpu) / (b.held - a.held) * 1e6


def run_worker(broker: EmbeddedBroker, data: Path, log: Path, store: str, app_id: str,
               probe: Callable[[str, int], Any]) -> Any:
    """Start the product's worker, run `probe(base_url, pid)` against it, stop it."""
    with worker_running(PRODUCT, broker.url, data, log, app_id=app_id,
                        MONITOR_STORE=store) as (base, worker):
        return asyncio.run(watched(probe(base, worker.pid), worker, log))


async def watched(probe: Awaitable[Any], worker: subprocess.Popen[bytes], log: Path) -> Any:
    """The probe's result, or RuntimeError at once if the worker exits before it is done (a
    probe would otherwise wait out its whole timeout on a worker that refused its settings)."""
    task = asyncio.ensure_future(probe)
    while not task.done():
        if worker.poll() is not None:
            task.cancel()
            raise RuntimeError(f"the worker exited with {worker.returncode}; see {log}")
        await asyncio.wait({task}, timeout=0.5)
    return task.result()


def product_load(broker: EmbeddedBroker, events: int, store: str, tmp: Path,
                 every: float) -> list[Sample]:
    """Samples of a fresh product worker (its own group) loading the preloaded topic."""
    app_id = f"bench-product-{time.time_ns()}"
    assert broker.process is not None
    samples: list[Sample] = run_worker(
        broker, tmp / app_id, tmp / "product.log", store, app_id,
        partial(sample_load, events=events, every=every, broker_pid=broker.process.pid))
    return samples


def consumers(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """Events/s (and CPU µs per event) of the four consumers of one preloaded topic,
    interleaved rounds; medians and the product's ratios to each."""
    rates: dict[str, list[Rate]] = {"raw_aiokafka": [], "faust_empty_agent": [],
                                    "faust_table_write_per_event": [], "product_worker": []}
    with EmbeddedBroker() as broker:
        say(f"preloading {args.events} snapshots")
        asyncio.run(preload(broker.bootstrap, args.events))
        for r in range(args.repeat):
            say(f"consumers round {r + 1}/{args.repeat}")
            rates["raw_aiokafka"].append(asyncio.run(raw_rate(broker.bootstrap, args.events)))
            rates["faust_empty_agent"].append(agent_rate("empty", broker, args.events, tmp))
            rates["faust_table_write_per_event"].append(
                agent_rate("table", broker, args.events, tmp))
            samples = product_load(broker, args.events, args.store, tmp, 0.2)
            rates["product_worker"].append(rate_between(samples, 0.02, 0.98))
            say("  " + ", ".join(f"{k} {v[-1].events_per_s:.0f}/s "
                                 f"{v[-1].cpu_us_per_event:.0f} µs" for k, v in rates.items()))
    speed = {k: round(statistics.median(r.events_per_s for r in v)) for k, v in rates.items()}
    cost = {k: round(statistics.median(r.cpu_us_per_event for r in v), 1)
            for k, v in rates.items()}
    product = "product_worker"
    return {"events": args.events, "store": args.store, "rounds": args.repeat,
            "events_per_s_median": speed, "cpu_us_per_event_median": cost,
            "events_per_s_all": {k: [round(r.events_per_s) for r in v]
                                 for k, v in rates.items()},
            "product_rate_vs": {k: round(speed[product] / v, 2) for k, v in speed.items()
                                if k != product},
            "product_cpu_vs": {k: round(v / cost[product], 2) for k, v in cost.items()
                               if k != product}}


def growth(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """Start and end rates of loading each --growth size (medians of --growth-repeat fresh
    brokers), beside the same windows of a Faust agent writing one table entry per event on
    the same topic (what the framework and broker alone lose as the topic and changelog grow),
    and RSS per position."""
    out: dict[str, Any] = {}
    for size in args.growth:
        runs: list[dict[str, float]] = []
        passes: list[dict[str, dict[str, float]]] = []
        for r in range(args.growth_repeat):
            with EmbeddedBroker() as broker:
                say(f"growth {r + 1}/{args.growth_repeat}: preloading {size} snapshots")
                asyncio.run(preload(broker.bootstrap, size))
                say(f"growth: loading {size} with the table-writing agent")
                base = agent_report("table", broker, size, tmp)
                say(f"growth: loading {size} with the product ({args.store})")
                samples = product_load(broker, size, args.store, tmp, 0.5)
            start, end = rate_between(samples, *START), rate_between(samples, *END)
            first, last = samples[0], samples[-1]
            runs.append({
                "start_events_per_s": start.events_per_s,
                "end_events_per_s": end.events_per_s,
                "end_vs_start": end.events_per_s / start.events_per_s,
                "start_cpu_us_per_event": start.cpu_us_per_event,
                "end_cpu_us_per_event": end.cpu_us_per_event,
                "broker_start_cpu_us_per_event": broker_cpu_us(samples, *START),
                "broker_end_cpu_us_per_event": broker_cpu_us(samples, *END),
                "table_agent_start_events_per_s": base["start"]["events_per_s"],
                "table_agent_end_events_per_s": base["end"]["events_per_s"],
                "table_agent_end_vs_start": (base["end"]["events_per_s"]
                                             / base["start"]["events_per_s"]),
                "rss_mb_end": last.rss / 2**20,
                "rss_bytes_per_position": (last.rss - first.rss) / (last.held - first.held)})
            passes.append({"start": pass_us(samples, *START), "end": pass_us(samples, *END)})
            say(f"  {size} run {r + 1}: " + ", ".join(f"{k} {v:.2f}" for k, v in runs[-1].items())
                + f"; derived passes, µs per event: {passes[-1]}")
        out[str(size)] = {
            **{k: round(statistics.median(run[k] for run in runs), 2) for k in runs[0]},
            "end_vs_start_all": [round(run["end_vs_start"], 2) for run in runs],
            "table_agent_end_vs_start_all": [round(run["table_agent_end_vs_start"], 2)
                                             for run in runs],
            "passes_us_per_event_all": passes}
    return out


async def write_changelog(bootstrap: str, topic: str, size: int) -> None:
    """The snapshot table's changelog as the keeper writes it: one stored value per position,
    on the partition the app's hash places it on."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20,
                                max_batch_size=512 * 1024)
    await producer.start()
    try:
        for i in range(size):
            raw = stored_value(orjson.loads(snapshot(i)))
            parse_snapshot(orjson.loads(raw))  # the benchmark writes only valid values
            key = f"bench:{i}"
            await producer.send(topic, raw, key=key.encode(),
                                partition=partition_of(key, PARTITIONS))
        await producer.flush()
    finally:
        await producer.stop()


async def time_recovery(base: str, pid: int, size: int) -> dict[str, float]:
    """Seconds from start to ready with `size` positions held, and RSS then."""
    started = time.perf_counter()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        while True:
            ready, count = await held(session, base)
            if ready and count >= size:
                return {"ready_s": time.perf_counter() - started, "rss": rss_bytes(pid)}
            if time.perf_counter() - started > TIMEOUT_S:
                raise TimeoutError(f"not recovered: {count} of {size}")
            await asyncio.sleep(0.1)


async def idle(base: str, pid: int) -> dict[str, float]:
    """Seconds to ready and RSS (after a settling pause) of a worker holding nothing."""
    ready = await time_recovery(base, pid, 0)
    await asyncio.sleep(2.0)
    return {"ready_s": ready["ready_s"], "rss": rss_bytes(pid)}


def recovery(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """Cold (and for RocksDB warm) recovery of each size with each store."""
    out: dict[str, Any] = {}
    for size in args.recovery:
        for store in args.stores:
            with EmbeddedBroker() as broker:
                app_id = f"bench-recovery-{time.time_ns()}"
                log = tmp / "recovery.log"
                say(f"recovery: {size} positions, {store}: creating the topics")
                empty = run_worker(broker, tmp / f"{app_id}-empty", log, store, app_id, idle)
                say(f"recovery: writing the changelog of {size} positions")
                asyncio.run(write_changelog(broker.bootstrap,
                                            f"{app_id}-{SNAPSHOT_TABLE}-changelog", size))
                data = tmp / app_id
                say("recovery: cold start")
                cold = run_worker(broker, data, log, store, app_id,
                                  partial(time_recovery, size=size))
                result = {"empty_ready_s": round(empty["ready_s"], 1),
                          "cold_ready_s": round(cold["ready_s"], 1),
                          "rss_mb": round(cold["rss"] / 2**20),
                          "rss_bytes_per_position": round((cold["rss"] - empty["rss"]) / size)}
                if store.startswith("rocksdb"):
                    say("recovery: warm restart")
                    warm = run_worker(broker, data, log, store, app_id,
                                      partial(time_recovery, size=size))
                    result["warm_ready_s"] = round(warm["ready_s"], 1)
                    result["warm_rss_bytes_per_position"] = round(
                        (warm["rss"] - empty["rss"]) / size)
            out[f"{size} {store}"] = result
            say(f"  {size} {store}: {result}")
    return out


def stores(text: str) -> list[str]:
    """A comma-separated list of the worker's stores."""
    chosen = [s for s in text.split(",") if s]
    unknown = [s for s in chosen if s not in STORES]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"{text!r}: expected some of {', '.join(STORES)}")
    return chosen


def sizes(text: str) -> list[int]:
    """A comma-separated list of sizes ('' for none)."""
    return [int(float(x)) for x in text.split(",") if x]


def main() -> None:
    """Run the sections and print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--growth", type=sizes, default=[100_000, 500_000])
    parser.add_argument("--growth-repeat", type=int, default=3,
                        help="fresh loads per growth size (medians)")
    parser.add_argument("--recovery", type=sizes, default=[100_000, 1_000_000])
    parser.add_argument("--stores", type=stores, default=list(STORES),
                        help="comma-separated, of memory:// and rocksdb://")
    parser.add_argument("--store", type=lambda s: stores(s)[0], default="memory://",
                        help="store of the load sections")
    parser.add_argument("--quick", action="store_true",
                        help="10k events, 1 round, growth 20k,50k, recovery 20k,100k")
    parser.add_argument("--agent", choices=("empty", "table"), help=argparse.SUPPRESS)
    parser.add_argument("--broker", help=argparse.SUPPRESS)
    parser.add_argument("--app-id", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.agent:
        agent_main(args.agent, args.broker, args.events, args.app_id, args.port, args.data)
        return
    if args.quick:
        args.events, args.repeat = 10_000, 1
        args.growth, args.recovery = [20_000, 50_000], [20_000, 100_000]
        args.growth_repeat = 1
    out: dict[str, Any] = {"benchmark": "pipeline", "cpus": os.cpu_count(),
                           "date": time.strftime("%Y-%m-%d"),
                           "load_average_at_start": round(os.getloadavg()[1], 1)}
    with tempfile.TemporaryDirectory() as tmp:
        if args.events:
            out["consumers"] = consumers(args, Path(tmp))
        if args.growth:
            out["growth"] = growth(args, Path(tmp))
        if args.recovery:
            out["recovery"] = recovery(args, Path(tmp))
    out["load_average_at_end"] = round(os.getloadavg()[1], 1)  # 5-minute averages
    print(json.dumps(out))


if __name__ == "__main__":
    main()
