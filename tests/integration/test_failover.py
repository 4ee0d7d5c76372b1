"""Right answers through failover: three workers of one group on Tansu while a replay streams
new versions of every position: scale out from one worker to three, then SIGKILL one, querying a
sample of ids on every live worker throughout. Every answer is right (a version that was
produced, with its numbers) or an honest 503 with Retry-After; never a 5xx, never a 404 for a
position that exists, never a hang; the final state equals a recomputation."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, cast

import orjson
import pytest

from monitor.risk import ClusterGrid, LendingPosition, build_clusters, from_snapshot
from monitor.run.broker import EmbeddedBroker
from tests.integration.market import close
from tests.integration.stream_harness import (
    Worker,
    eventually,
    produce,
    ready,
    running,
    start_worker,
    worker_settings,
)
from tests.integration.test_recovery import N_POSITIONS, snapshot

pytestmark = pytest.mark.integration
ROUTE_TIMEOUT_S: Final = 2.0
HANG_S: Final = 15.0  # an answer later than this is a hang (aiohttp's default would be 300 s)
SAMPLE: Final = range(0, N_POSITIONS, 5)
PRICES: Final = {"WETH": 3000.0, "USDC": 1.0}


def pid(i: int) -> str:
    """Position i's id."""
    return f"aave-v3:1:0x{i:040x}"


@dataclass
class Answer:
    """One query's outcome."""

    port: int  # the worker asked
    position: int
    status: int
    seconds: float
    body: Any
    retry_after: str | None


@dataclass
class Querier:
    """Asks every live worker for every sampled id, round after round, until stopped."""

    workers: list[Worker]
    answers: list[Answer] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def live(self) -> list[Worker]:
        """The workers to ask now."""
        with self.lock:
            return [w for w in self.workers if w.process.poll() is None]

    def drop(self, worker: Worker) -> None:
        """Stop asking `worker` (it is about to be killed)."""
        with self.lock:
            self.workers = [w for w in self.workers if w is not worker]

    def add(self, worker: Worker) -> None:
        """Start asking `worker`."""
        with self.lock:
            self.workers = [*self.workers, worker]

    def ask(self, worker: Worker, i: int) -> Answer:
        """One query, timed."""
        url = f"http://127.0.0.1:{worker.settings.web_port}/positions/{pid(i)}/"
        started = time.monotonic()
        try:
            with urllib.request.urlopen(url, timeout=HANG_S) as response:
                status, body, retry = response.status, response.read(), None
        except urllib.error.HTTPError as exc:
            status, body, retry = exc.code, exc.read(), exc.headers.get("Retry-After")
        except (urllib.error.URLError, OSError) as exc:
            status, body, retry = -1, repr(exc).encode(), None
        return Answer(worker.settings.web_port, i, status, time.monotonic() - started,
                      orjson.loads(body) if status > 0 else body, retry)

    def run(self) -> None:
        """Query until stopped."""
        while not self.stop.is_set():
            for worker in self.live():
                for i in SAMPLE:
                    self.answers.append(self.ask(worker, i))


def replay(bootstrap: str, versions: range, done: threading.Event) -> None:
    """Every position at each version in turn, a little apart."""
    for version in versions:
        produce(bootstrap, [("positions", pid(i), snapshot(i, version))
                            for i in range(N_POSITIONS)])
        time.sleep(0.3)
    done.set()


def check_answer(answer: Answer, last: int) -> str | None:
    """What is wrong with one answer, if anything."""
    if answer.status == 503:
        ok = answer.retry_after is not None and isinstance(answer.body, dict) \
            and "error" in answer.body
        return None if ok else f"503 without Retry-After or reason: {answer}"
    if answer.status != 200:
        return f"status {answer.status}: {answer}"
    version = answer.body["version"][0]
    expected = cast(LendingPosition, from_snapshot(snapshot(answer.position, version)))
    if not 1 <= version <= last or answer.body["debt_usd"] != expected.debt[0].amount:
        return f"wrong value: {answer}"
    return None


def final_state(workers: list[Worker], last: int) -> None:
    """Every position at the last version on every worker; clusters equal a recomputation."""
    positions = [from_snapshot(snapshot(i, last)) for i in range(N_POSITIONS)]
    expected = build_clusters(positions, "WETH", PRICES, ClusterGrid()).levels
    for worker in workers:
        for i in range(N_POSITIONS):
            status, body = worker.get(f"/positions/{pid(i)}/")
            assert status == 200 and body["version"] == [last, 0], (i, status, body)
        status, body = worker.get("/clusters/WETH/")
        assert status == 200 and close(body["levels"], [lvl.to_dict() for lvl in expected])


def test_queries_stay_right_or_honest_through_scale_out_and_sigkill(
        broker: EmbeddedBroker, tmp_path: Path) -> None:
    configs = [worker_settings(broker.url, tmp_path / f"data{n}", app_id="failover",
                               route_timeout=ROUTE_TIMEOUT_S) for n in range(3)]
    first = start_worker(configs[0], tmp_path / "w0.log")
    with running([first]) as started:
        ready(first)
        produce(broker.bootstrap, [("prices", a, {"asset": a, "price": p, "version": [1, 0],
                                                  "timestamp": time.time()})
                                   for a, p in PRICES.items()])
        produce(broker.bootstrap, [("positions", pid(i), snapshot(i, 1))
                                   for i in range(N_POSITIONS)])
        eventually(lambda: final_state([first], 1))
        querier = Querier([first])
        asking = threading.Thread(target=querier.run, daemon=True)
        asking.start()
        last, done = 40, threading.Event()
        replaying = threading.Thread(target=replay, args=(broker.bootstrap, range(2, last + 1),
                                                          done), daemon=True)
        replaying.start()
        try:
            for n in (1, 2):  # scale out to three during the replay
                worker = start_worker(configs[n], tmp_path / f"w{n}.log")
                started.append(worker)
                ready(worker)
                querier.add(worker)
            eventually(lambda: all(w.get("/health/")[0] == 200 for w in started))
            victim = started[1]
            querier.drop(victim)
            victim.process.kill()  # SIGKILL: no goodbye to the group
            victim.process.wait()
            done.wait(timeout=120)
            survivors = [w for w in started if w.process.poll() is None]
            eventually(lambda: final_state(survivors, last), timeout=90)
        finally:
            querier.stop.set()
            asking.join(timeout=HANG_S + 5)
    statuses = Counter(a.status for a in querier.answers)
    slow = [a for a in querier.answers if a.seconds > ROUTE_TIMEOUT_S + 1]
    print(f"\n{len(querier.answers)} answers {dict(statuses)}; slower than the route timeout "
          f"+ 1 s: {len(slow)} (slowest {max(a.seconds for a in querier.answers):.2f} s)")
    killed = victim.settings.web_port  # a sweep under way when it died still asks it
    wrong = [problem for a in querier.answers
             if not (a.port == killed and a.status == -1) and (problem := check_answer(a, last))]
    assert not wrong, wrong[:10]
    assert statuses[200] > len(SAMPLE)  # the test asked while answers flowed
