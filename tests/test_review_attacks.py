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


DEEP = '{"a":' * 20_000 + "1" + "}" * 20_000  # past every Python's parser (3.13 parses 5,000)


@pytest.mark.parametrize("index, source", [
    ("agent-findings", '{"merchant_id":"merchant_001","issue":"low_conversion","timestamp":"2026-11-16T00:00:00Z",'
                       '"root_cause":' + DEEP + "}"),
    ("pp-merchantai-remediations", '{"merchant_id":"merchant_001","timestamp":"2026-11-16T00:00:00Z","action":'
                                   + DEEP + "}"),
])
def test_a_document_nested_too_deeply_to_parse_never_stops_the_hourly_run(cluster, hourly, monkeypatch, caplog,
                                                                          index, source):
    monkeypatch.setenv("REMEDIATION", "on")
    # The AI maps the field so the engine keeps the nesting without indexing it.
    call(cluster, "PUT", f"/{index}", {"mappings": {"properties": {
        "root_cause" if index == "agent-findings" else "action": {"type": "object", "enabled": False}}}})
    request = urllib.request.Request(f"{cluster.clone.url}/{index}/_doc/deep?refresh=true", method="PUT",
                                     data=source.encode(), headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request).close()
    summary = hourly(DAY1 + HOUR)
    assert (summary["status"], summary["documents"], summary["indexed"]) == ("ok", 20, 20)
    assert "(a document nested too deeply): nothing read from them" in caplog.text


def test_a_finding_deeper_than_the_bench_records_is_recorded_malformed(cluster, hourly):
    hourly(DAY1)
    call(cluster, "PUT", "/agent-findings/_doc/nested?refresh=true",
         {"merchant_id": "merchant_013", "issue": "low_conversion", "timestamp": iso(DAY1),
          "root_cause": {"category": "release", "component": ["checkout", "cart"]}})  # a list: not a string
    call(cluster, "PUT", "/agent-findings/_doc/plain?refresh=true",
         {"merchant_id": "merchant_014", "issue": "low_conversion", "timestamp": iso(DAY1),
          "root_cause": {"category": "release", "component": "checkout"}})
    hourly(DAY1 + HOUR)
    records = {r["finding_id"]: r for r in cluster.documents("pp-merchantai-incidents").values()
               if r["kind"] == "finding_seen"}
    assert "finding" not in records["nested"] and records["nested"]["malformed"].startswith("not an object of strings")
    assert records["plain"]["finding"]["root_cause"] == {"category": "release", "component": "checkout"}
    result = score("--findings-index", "agent-findings", "--start", iso(DAY1), "--end", iso(DAY1 + 2 * HOUR))
    assert (result["findings"]["malformed"], result["overall"]["fp"]) == (1, 1)


def test_the_scorer_lists_a_findings_document_nested_too_deeply_and_goes_on(cluster, hourly, monkeypatch):
    hourly(DAY1)
    call(cluster, "PUT", "/agent-findings", {"mappings": {"properties": {
        "root_cause": {"type": "object", "enabled": False}}}})
    call(cluster, "PUT", "/agent-findings/_doc/plain?refresh=true",
         {"merchant_id": "merchant_014", "issue": "low_conversion", "timestamp": iso(DAY1)})
    hourly(DAY1 + HOUR)  # records the plain one
    request = urllib.request.Request(f"{cluster.clone.url}/agent-findings/_doc/deep?refresh=true", method="PUT",
                                     data=('{"merchant_id":"m","issue":"low_conversion","timestamp":"2026-11-16T00:00:00Z",'
                                           '"root_cause":' + DEEP + "}").encode(), headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request).close()
    result = score("--findings-index", "agent-findings", "--start", iso(DAY1), "--end", iso(DAY1 + 2 * HOUR))
    assert result["overall"]["fp"] == 1
    assert "index: not read whole (a document nested too deeply): unrecorded not listed" in \
        result["findings"]["problems"]
    # An index no run watches is the AI's own account: unreadable, it is an input error, never a traceback.
    monkeypatch.delenv("FINDINGS_INDEX")
    out, err = io.StringIO(), io.StringIO()
    assert evaluate.main(["score", "--findings-index", "agent-findings", "--start", iso(DAY1), "--end",
                          iso(DAY1 + 2 * HOUR)], out=out, err=err) == 2
    assert err.getvalue().endswith("cannot read --findings-index 'agent-findings': a document is nested too deeply "
                                   "to parse\n")


def test_a_back_dated_fix_written_before_a_backfill_over_generated_hours_rewrites_none_of_them(cluster, hourly,
                                                                                              monkeypatch):
    monkeypatch.setenv("REMEDIATION", "on")
    onset = DAY1 + 6 * HOUR  # closed-loop.json: checkout_regression on merchant_001
    for h in range(6 + 19):
        hourly(DAY1 + h * HOUR)
    before = cluster.documents()
    call(cluster, "PUT", "/pp-merchantai-remediations/_doc/late?refresh=true",
         {"merchant_id": "merchant_001", "action": "rollback_release", "timestamp": iso(onset)})
    # The operator re-generates the day (or Lambda retries the last hour) before the next hourly run:
    # the AI has seen every one of those hours, so its fix may act only after them.
    data_generator.lambda_handler({"start": iso(DAY1), "end": iso(onset + 19 * HOUR)}, None)
    hourly(onset + 18 * HOUR)
    assert cluster.documents() == before
    (seen,) = [r for r in cluster.documents("pp-merchantai-incidents").values() if r["kind"] == "remediation_seen"]
    assert (seen["seen_at"], seen["timestamp"]) == (iso(onset + 19 * HOUR), iso(onset + 18 * HOUR))
    result = score("--start", iso(DAY1), "--end", iso(onset + 19 * HOUR), "--findings", "/dev/null",
                   "--remediation", "on")
    assert result["remediation"]["hours_to_mitigate"]["max"] == 18
