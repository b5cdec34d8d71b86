"""Attacks found in review (issue 16's contract): what the AI deletes or rewrites after the bench saw it
cannot change its score, on the real engine."""

from __future__ import annotations

import io
import json
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest

import data_generator
from grader import cli as evaluate

HOUR = timedelta(hours=1)
DAY1 = datetime(2026, 11, 16, tzinfo=timezone.utc)
ENV = {"SCENARIO": "closed-loop.json", "FINDINGS_INDEX": "agent-findings"}


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def call(cluster, method: str, path: str, source: dict | None = None) -> None:
    data = None if source is None else json.dumps(source).encode()
    request = urllib.request.Request(f"{cluster.clone.url}{path}", method=method, data=data,
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request).close()


def score(*argv) -> dict:
    out, err = io.StringIO(), io.StringIO()
    assert evaluate.main(["score", *argv, "--json"], out=out, err=err) == 0, err.getvalue()
    return json.loads(out.getvalue())


@pytest.fixture
def hourly(cluster, monkeypatch):
    for name, value in {"ELASTICSEARCH_HOST": cluster.url, **ENV}.items():
        monkeypatch.setenv(name, value)
    data_generator._client.cache_clear()
    yield lambda hour: data_generator.lambda_handler({"time": iso(hour)}, None)
    data_generator._client.cache_clear()


def test_a_finding_deleted_or_rewritten_after_the_bench_saw_it_still_counts(cluster, hourly):
    # A false alarm on a quiet merchant, and a second one the AI later rewrites into another
    # merchant's: hindsight must not clean the record once an hourly run has seen them.
    hourly(DAY1)
    call(cluster, "PUT", "/agent-findings/_doc/oops?refresh=true",
         {"merchant_id": "merchant_013", "issue": "low_conversion", "timestamp": iso(DAY1)})
    call(cluster, "PUT", "/agent-findings/_doc/moved?refresh=true",
         {"merchant_id": "merchant_014", "issue": "low_conversion", "timestamp": iso(DAY1)})
    hourly(DAY1 + HOUR)  # sees and records both
    call(cluster, "DELETE", "/agent-findings/_doc/oops?refresh=true")
    call(cluster, "PUT", "/agent-findings/_doc/moved?refresh=true",
         {"merchant_id": "merchant_015", "issue": "low_conversion", "timestamp": iso(DAY1 + HOUR)})
    hourly(DAY1 + 2 * HOUR)  # sees the rewrite: a new finding, the old one stays made
    result = score("--findings-index", "agent-findings", "--start", iso(DAY1), "--end", iso(DAY1 + 3 * HOUR))
    assert result["findings"]["times"] == "recorded"
    assert result["overall"]["fp"] == 3
