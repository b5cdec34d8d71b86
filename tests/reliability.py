"""Helpers shared by the suites that drive the handler (faults, time budget, secrets, the closed loops)."""

from __future__ import annotations

import io
import random
import time
from datetime import datetime, timedelta, timezone

import config
import data_generator
import es
import generator
from grader import cli as evaluate

HOUR = timedelta(hours=1)
DAY_START = datetime(2026, 11, 1, tzinfo=timezone.utc)


def scheduled(moment: str = "2026-11-01T05:00:07Z") -> dict:
    """An EventBridge scheduled event, as AWS delivers it."""
    return {
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": moment,
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/pp-merchantai-hourly"],
        "detail": {},
    }


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def scheduled_at(hour: datetime) -> dict:
    """The scheduled event of hour's run, delivered 7 seconds into it."""
    return scheduled(iso(hour + timedelta(seconds=7)))


def evaluated(*argv) -> tuple:
    """(stdout, stderr) of one evaluate.py command, which must succeed."""
    out, err = io.StringIO(), io.StringIO()
    assert evaluate.main(list(argv), out=out, err=err) == 0, err.getvalue()
    return out.getvalue(), err.getvalue()


BACKFILL = {"start": "2026-11-01T00:00:00Z", "end": "2026-11-02T00:00:00Z"}

# event -> (first hour, number of hours) it writes
EVENTS = {
    "scheduled-hour": (scheduled(), (datetime(2026, 11, 1, 5, tzinfo=timezone.utc), 1)),
    "backfill-24h": (BACKFILL, (DAY_START, 24)),
}


def expected_documents(start: datetime, hours: int, merchants: int = config.DEFAULT_MERCHANTS,
                       seed: int = config.DEFAULT_SEED) -> dict:
    """{_id: document} a fault-free run writes for these hours, straight from the generator."""
    cfg = config.Config(merchants=merchants, seed=seed)
    roster = generator.roster(seed, merchants)
    documents = {}
    for i in range(hours):
        hour = start + i * HOUR
        for m, document in zip(roster, data_generator.documents(cfg, hour)):
            documents[generator.document_id(m, hour)] = document
    return documents


def fast(monkeypatch, timeout: float = 0.75) -> None:
    """Short timeouts, backoffs and patience: the fault suites run in seconds.

    Chunks of 100 documents keep a healthy _bulk far below the short timeout on a
    busy CI machine (480 documents can take 0.4 s through the proxy), so only the
    injected faults time out. A handler invoked without a context (as here) retries
    for the default patience: 1 s, so a persistent fault gives up after a few tries.
    """
    monkeypatch.setattr(es, "CHUNK_SIZE", 100)
    monkeypatch.setattr(es, "REQUEST_TIMEOUT_S", timeout)
    monkeypatch.setattr(es, "INITIAL_BACKOFF_S", 0.01)
    monkeypatch.setattr(es, "MAX_BACKOFF_S", 0.02)
    monkeypatch.setattr(es, "JITTER", random.Random(1729))
    monkeypatch.setattr(config, "DEFAULT_PATIENCE_S", 1)


class FakeClock:
    """Simulated time for es: real time, plus every backoff and every stalled attempt skipped at once.

    An attempt is stalled when the proxy holds its request without answering
    (Hang, Delay, Trickle): the clock jumps to the attempt's deadline instead of
    waiting for it, and the proxy lets the request go. attempts records (start, end) of every attempt in simulated seconds.
    """

    def __init__(self, proxy, monkeypatch):
        self.proxy = proxy
        self.skipped = 0.0
        self.started = time.monotonic()
        self.attempts: list = []
        self.sleeps: list = []
        monkeypatch.setattr(es, "monotonic", self.monotonic)
        monkeypatch.setattr(es, "sleep", self.sleep)
        monkeypatch.setattr(es, "wait", self.wait)

    def monotonic(self) -> float:
        return time.monotonic() + self.skipped

    def elapsed(self) -> float:
        return self.monotonic() - self.started

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.skipped += seconds

    def wait(self, done, timeout: float) -> bool:
        start = self.elapsed()
        real = time.monotonic()
        answered = True
        while not done.wait(0.002):
            # Held now, not "more stalls than when the wait began": the attempt's thread may
            # reach the proxy before this wait starts. Every earlier hold was released by now.
            if self.proxy.held:
                # The client gives up at the deadline; the held request is dropped
                # (its worker thread ends and frees its connection).
                self.skipped += max(0.0, timeout - (time.monotonic() - real))
                self.proxy.release_stalled()
                answered = False
                break
            if time.monotonic() - real >= timeout:
                answered = False
                break
        self.attempts.append((start, self.elapsed()))
        return answered

    def context(self, budget_s: float) -> "FakeContext":
        """A Lambda context with budget_s seconds from now, in simulated time."""
        base = self.elapsed()
        return FakeContext(lambda: (budget_s - (self.elapsed() - base)) * 1000)


def es_error(status: int, kind: str, reason: str) -> dict:
    """An Elasticsearch error body."""
    return {"error": {"root_cause": [{"type": kind, "reason": reason}], "type": kind, "reason": reason},
            "status": status}


TOO_MANY_REQUESTS = es_error(429, "es_rejected_execution_exception",
                             "rejected execution of coordinating operation")
UNAVAILABLE = es_error(503, "cluster_block_exception", "blocked by: [SERVICE_UNAVAILABLE/2/no master];")
ITEM_REJECTED = {"type": "es_rejected_execution_exception",
                 "reason": "rejected execution of primary operation [queue capacity = 200]"}


class FakeContext:
    """A Lambda context whose remaining time is whatever remaining() says."""

    function_name = "pp-merchantai-data-generator"
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e812345678"

    def __init__(self, remaining):
        self.remaining = remaining
        self.calls = 0

    def get_remaining_time_in_millis(self) -> int:
        self.calls += 1
        return int(self.remaining())
