"""At-least-once delivery: several processes writing the same hour at once leave one document per merchant."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import config
from reliability import BACKFILL, DAY_START, expected_documents, scheduled
from shim import is_bulk

ROOT = Path(__file__).resolve().parent.parent
HANDLER = (
    "import json, sys; sys.path.insert(0, 'lambda'); import data_generator; "
    "print(json.dumps(data_generator.lambda_handler(json.loads(sys.argv[1]), None)))"
)


class AllAtOnce:
    """Holds every _bulk until `parties` of them have arrived, then forwards them together."""

    def __init__(self, parties: int):
        self.barrier = threading.Barrier(parties, timeout=30)
        self.held = 0

    def __call__(self, request):
        if is_bulk(request):
            self.held += 1
            self.barrier.wait()
        return None


def start(cluster, command: list) -> subprocess.Popen:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("ELASTICSEARCH_", "MERCHANT_",
                                                                                    "GENERATOR_", "LOG_"))}
    env[config.ELASTICSEARCH_HOST] = cluster.url
    return subprocess.Popen([sys.executable, *command], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def handler(event) -> list:
    return ["-c", HANDLER, json.dumps(event)]


CLI_HOUR = ["lambda/data_generator.py", "--start", "2026-11-01T05:00:00Z", "--end", "2026-11-01T06:00:00Z"]

RUNS = {
    # The same scheduled hour delivered four times (EventBridge is at-least-once), two by the CLI.
    "same-hour-x4": ([handler(scheduled()), handler(scheduled("2026-11-01T05:59:58Z")), CLI_HOUR, CLI_HOUR], 1),
    # A backfill of the day racing three deliveries of one of its hours.
    "backfill-vs-hour": ([handler(BACKFILL), handler(scheduled()), handler(scheduled()), CLI_HOUR], 24),
}


@pytest.mark.parametrize("run", RUNS)
def test_concurrent_invocations_leave_one_document_per_merchant_hour(cluster, run):
    commands, hours = RUNS[run]
    together = AllAtOnce(len(commands))
    cluster.proxy.faults.append(together)

    processes = [start(cluster, command) for command in commands]
    results = [process.communicate(timeout=120) for process in processes]

    for process, (out, err) in zip(processes, results):
        assert process.returncode == 0, err
    assert together.held == len(commands) and not together.barrier.broken  # all _bulk requests overlapped
    first = DAY_START if hours == 24 else DAY_START.replace(hour=5)
    expected = expected_documents(first, hours)
    assert cluster.count() == len(expected)
    assert cluster.documents() == expected
