"""On the real engine: back-dating gains nothing, the stored key is the scored key, and no number or
size of the AI's documents stops or starves the hourly run (issue 16, parts 2 and 4)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import data_generator
import es
import incidents
import ledger
from config import Config, HourRange
from grader import cli as evaluate

HOUR = timedelta(hours=1)
DAY1 = datetime(2026, 11, 16, tzinfo=timezone.utc)
ONSET = DAY1 + 6 * HOUR  # closed-loop.json: checkout_regression on merchant_001; cardwise fails at 15:00
LAST = ONSET + 24 * HOUR  # the last hour the loop below generates
ENV = {"SCENARIO": "closed-loop.json", "REMEDIATION": "on", "FINDINGS_INDEX": "agent-findings"}
LAMBDA = Path(__file__).resolve().parent.parent / "lambda"


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def put(cluster, index: str, doc_id: str, source: dict) -> None:
    request = urllib.request.Request(f"{cluster.clone.url}/{index}/_doc/{doc_id}?refresh=true", method="PUT",
                                     data=json.dumps(source).encode(), headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request).close()


def cli(*argv) -> str:
    out, err = io.StringIO(), io.StringIO()
    assert evaluate.main(list(argv), out=out, err=err) == 0, err.getvalue()
    return out.getvalue()


@pytest.fixture(scope="module")
def played(engine):
    """An AI that sits on a checkout regression for 18 hours, then writes its fix timestamped at the
    onset; that states one finding honestly and back-dates another; and that rewrites its fix's
    timestamp once it has been seen. Returns (cluster, requests per hourly run, documents before the rewrite)."""
    from conftest import environment

    with environment(engine, ENV) as cluster:
        yield from _play(cluster)


def _play(cluster):
    proxy = cluster.proxy
    runs, before_rewrite = {}, None
    hour = DAY1
    while hour <= LAST:
        if hour == LAST:
            before_rewrite = cluster.documents()
            # Its fix, rewritten with another timestamp after the run of ONSET + 19 saw it.
            put(cluster, "pp-merchantai-remediations", "late-fix", {
                "merchant_id": "merchant_001", "action": "rollback_release", "timestamp": iso(ONSET + HOUR)})
        start = len(proxy.requests)
        data_generator.lambda_handler({"time": iso(hour)}, None)
        runs[hour] = [(r.method, r.path.split("?")[0]) for r in proxy.requests[start:]]
        if hour == ONSET + 10 * HOUR:  # honest: the hour it last saw
            put(cluster, "agent-findings", "f-honest", {
                "merchant_id": "merchant_001", "issue": "low_conversion", "timestamp": iso(hour)})
        if hour == DAY1 + 20 * HOUR:  # back-dated to the outage's onset, 5 hours before
            put(cluster, "agent-findings", "f-backdated", {
                "merchant_id": "merchant_007", "issue": "high_error_rate", "timestamp": iso(DAY1 + 15 * HOUR)})
        if hour == ONSET + 18 * HOUR:  # 18 hours late, claiming the onset
            put(cluster, "pp-merchantai-remediations", "late-fix", {
                "merchant_id": "merchant_001", "action": "rollback_release", "timestamp": iso(ONSET),
                "note": "fixed it right away, honest"})
        hour += HOUR
    yield cluster, runs, before_rewrite


@pytest.fixture
def loop(played, monkeypatch):
    from conftest import set_environment

    set_environment(played[0], ENV, monkeypatch)
    return played


def merchant_001(docs: dict) -> list:
    return [docs[f"merchant_001-{DAY1 + i * HOUR:%Y%m%d%H}"] for i in range(31)]


def key_records(cluster) -> dict:
    """The answer-key index without the bench's records of what it saw."""
    cluster.get("/pp-merchantai-incidents/_refresh")
    body = json.dumps({"size": 10000, "query": {"bool": {"must_not": [{"terms": {"kind": list(ledger.KINDS)}}]}}})
    request = urllib.request.Request(cluster.clone.url + "/pp-merchantai-incidents/_search", data=body.encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        return {hit["_id"]: hit["_source"] for hit in json.loads(response.read())["hits"]["hits"]}


def test_a_fix_back_dated_to_the_onset_acts_when_the_bench_first_saw_it(loop):
    cluster, _, _ = loop
    docs = merchant_001(cluster.documents())
    steady = [d for d in (data_generator.documents(Config(), DAY1 + i * HOUR) for i in range(31))]
    steady = [next(d for d in hour if d["merchant_id"] == "merchant_001") for hour in steady]
    # Seen by the run of ONSET + 19: it acted at ONSET + 18 (the last hour the AI could have seen),
    # so the incident ran on all those hours, recovered at ONSET + 19 and was over at ONSET + 20.
    assert all(docs[i]["conversion_rate"] < 30 for i in range(7, 25))
    assert steady[25]["conversion_rate"] > docs[25]["conversion_rate"] > docs[24]["conversion_rate"]
    assert docs[26:30] == steady[26:30]
    record = key_records(cluster)["file-checkout_regression-merchant_001-2026111606"]
    assert {k: record[k] for k in ("resolved_by", "resolved_at", "recovery_start", "end", "remediation_id")} == {
        "resolved_by": "remediation", "resolved_at": "2026-11-17T00:00:00Z", "recovery_start": "2026-11-17T01:00:00Z",
        "end": "2026-11-17T02:00:00Z", "remediation_id": "late-fix"}
    seen = [r for r in cluster.documents("pp-merchantai-incidents").values() if r.get("remediation_id") == "late-fix"
            and r["kind"] == "remediation_seen"]
    assert sorted((r["claimed_at"], r["seen_at"], r["timestamp"]) for r in seen) == [
        ("2026-11-16T06:00:00Z", "2026-11-17T01:00:00Z", "2026-11-17T00:00:00Z"),
        ("2026-11-16T07:00:00Z", "2026-11-17T06:00:00Z", "2026-11-17T05:00:00Z"),  # the rewrite: a new act
    ]


def test_the_score_counts_the_benchs_hours_and_equals_the_stored_key(loop):
    cluster, _, _ = loop
    start, end = iso(DAY1), iso(LAST + HOUR)
    result = json.loads(cli("score", "--findings-index", "agent-findings", "--start", start, "--end", end, "--json"))
    assert result["remediation"]["hours_to_mitigate"] == {"count": 1, "median": 18, "p90": 18, "max": 18}
    # The honest finding is a true positive of the regression, 10 hours in; the back-dated one
    # counts from the hour before the run that saw it (20:00), 5 hours after the outage's onset.
    assert result["findings"]["times"] == "recorded"
    assert result["hours_to_detect"] == {"count": 2, "median": 7.5, "p90": 10, "max": 10}
    assert result["overall"]["fp"] == 0
    # What the scorer recomputes from the bench's records is what the runs stored.
    records, _ = incidents.answer_key(Config(scenario="closed-loop.json", remediation=True),
                                      HourRange(DAY1, LAST + HOUR), _recorded(cluster))
    assert {r["incident_id"]: r for r in records} == key_records(cluster)


def _recorded(cluster):
    client = es.connect(cluster.url)
    return lambda window: ledger.Seen(records=es.read_records(client, "pp-merchantai-incidents", {
        "range": {"timestamp": {"gte": window.lo, "lt": window.stop}}}))


def test_a_file_of_findings_keeps_its_own_times_and_says_so(loop, tmp_path):
    path = tmp_path / "findings.jsonl"
    path.write_text(json.dumps({"merchant_id": "merchant_007", "issue": "high_error_rate",
                                "timestamp": iso(DAY1 + 15 * HOUR)}) + "\n")
    result = json.loads(cli("score", "--findings", str(path), "--start", iso(DAY1), "--end", iso(LAST + HOUR), "--json"))
    assert result["findings"]["times"] == "self-reported"
    assert result["hours_to_detect"]["max"] == 0


def test_rewriting_a_seen_fix_changes_no_document_already_written(loop):
    cluster, _, before = loop
    after = cluster.documents()
    assert {i: d for i, d in after.items() if i in before} == before
    # A re-run of every hour so far changes nothing either: the bench's recorded hours decide.
    stored = cluster.documents(), cluster.documents("pp-merchantai-incidents")
    data_generator.lambda_handler({"start": iso(DAY1), "end": iso(LAST + HOUR)}, None)
    assert (cluster.documents(), cluster.documents("pp-merchantai-incidents")) == stored


def test_every_warm_run_is_one_search_and_the_bulk_whatever_was_written(loop):
    _, runs, _ = loop
    search, bulk = ("POST", "/_msearch"), ("PUT", "/_bulk")
    assert all(run == [search, bulk] for hour, run in runs.items() if hour != DAY1)


# --- hostile documents ------------------------------------------------------------------------------

# The peak is VmHWM, the high-water mark of this process's own memory: ru_maxrss would also
# carry the spawning test process's peak across exec (Linux keeps the larger of the two).
RUN = """
import json, re, sys, time
sys.path.insert(0, sys.argv[1])
import data_generator
started = time.monotonic()
summary = data_generator.lambda_handler({"time": sys.argv[2]}, None)
peak_kb = int(re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1))
print(json.dumps({"summary": summary, "seconds": time.monotonic() - started, "maxrss_mb": peak_kb / 1024}))
"""


def bulk(cluster, pairs) -> None:
    body = "".join(json.dumps(a) + "\n" + json.dumps(s) + "\n" for a, s in pairs).encode()
    request = urllib.request.Request(cluster.clone.url + "/_bulk", data=body, method="POST",
                                     headers={"Content-Type": "application/x-ndjson"})
    with urllib.request.urlopen(request) as response:
        assert not json.loads(response.read())["errors"]


def test_no_number_or_size_of_documents_stops_or_starves_the_hourly_run(cluster):
    index = "pp-merchantai-remediations"
    hour = DAY1 + 10 * HOUR
    claim = iso(hour - HOUR)
    # The AI may map its notes as it likes; not analysing them keeps the test's setup fast.
    request = urllib.request.Request(f"{cluster.clone.url}/{index}", method="PUT", headers={
        "Content-Type": "application/json"}, data=json.dumps({"mappings": {"properties": {
            "note": {"type": "text", "index": False}}}}).encode())
    urllib.request.urlopen(request).close()
    hostile = [({"index": {"_index": index, "_id": "i" * 500}},
                {"merchant_id": "merchant_002", "action": "rollback_release", "timestamp": claim})]
    hostile += [({"index": {"_index": index, "_id": f"wide-{i}"}},
                 {"merchant_id": "merchant_003", "action": "fix_dns_record", "timestamp": claim,
                  "incident_id": "x" * 40_000, "details": "y" * 40_000}) for i in range(50)]
    bulk(cluster, hostile)
    for batch in range(0, 160, 16):  # 160 MB of notes
        bulk(cluster, [({"index": {"_index": index, "_id": f"note-{i}"}},
                        {"merchant_id": "merchant_004", "action": "rollback_release", "timestamp": claim,
                         "note": "n" * 1_000_000}) for i in range(batch, batch + 16)])
    for batch in range(0, 100_000, 20_000):
        bulk(cluster, [({"index": {"_index": index, "_id": f"many-{i}"}},
                        {"merchant_id": f"merchant_{i % 20 + 1:03d}", "action": "restore_location_feed",
                         "timestamp": claim}) for i in range(batch, batch + 20_000)])
    outcomes = []
    for run_hour in (hour, hour + HOUR):  # the first sees them, the second finds them recorded
        outcomes.append(hourly_in_a_process(cluster, run_hour, {"REMEDIATION": "on"}))
        assert "100211 documents in 'pp-merchantai-remediations'" in outcomes[-1]["stderr"]
    for outcome in outcomes:
        summary = outcome["summary"]
        assert (summary["status"], summary["documents"], summary["indexed"], summary["failed"]) == ("ok", 20, 20, 0)
        assert outcome["maxrss_mb"] <= 256, outcome
    assert cluster.count() == 40
    seen = [r for r in cluster.documents("pp-merchantai-incidents").values() if r["kind"] == "remediation_seen"]
    # One page of them was read and recorded: the long id and the wide fields malformed, 50 acted in
    # their hour, the rest refused.
    assert len(seen) == es.MAX_INBOX
    assert sum(r["refused"] is None and r["malformed"] is None for r in seen) == 50
    assert {r["remediation_id"]: r["malformed"] for r in seen if r["malformed"]}[
        "sha256-" + hashlib.sha256(b"i" * 500).hexdigest()] == "_id is longer than 128 bytes"
    print(f"hostile hourly runs: {[round(o['seconds'], 1) for o in outcomes]} s, "
          f"peak {[round(o['maxrss_mb']) for o in outcomes]} MB")


def hourly_in_a_process(cluster, run_hour: datetime, env: dict) -> dict:
    """One hourly run in a process of its own: its summary, duration and peak memory, and its stderr."""
    env = {**{k: v for k, v in os.environ.items() if k not in ENV},
           "ELASTICSEARCH_HOST": cluster.url, "LOG_LEVEL": "WARNING", **env}
    done = subprocess.run([sys.executable, "-c", RUN, str(LAMBDA), iso(run_hour)], env=env, capture_output=True,
                          text=True, check=True)
    return {**json.loads(done.stdout.splitlines()[-1]), "stderr": done.stderr}


def test_huge_values_in_the_ais_own_mapping_are_never_read_whole_and_an_honest_fix_beside_them_acts(cluster):
    """The AI owns its index's mapping, so nothing cuts its fields on the server: 1,000 remediations
    with 100 KB actions (100 MB in one answer) and one of 17 MB. The run reads no answer past
    es.MAX_ANSWER_BYTES: it reads them again in pieces, records the one too large alone by its id,
    and acts on the honest fix written after them."""
    index = "pp-merchantai-remediations"
    run_hour = ONSET + 3 * HOUR
    claim = iso(run_hour - HOUR)
    request = urllib.request.Request(f"{cluster.clone.url}/{index}", method="PUT", headers={
        "Content-Type": "application/json"}, data=json.dumps({"mappings": {"properties": {
            "action": {"type": "text", "index": False}}}}).encode())
    urllib.request.urlopen(request).close()
    for batch in range(0, 1000, 250):
        bulk(cluster, [({"index": {"_index": index, "_id": f"wide-{i}"}},
                        {"merchant_id": "merchant_003", "action": "a" * 100_000, "timestamp": claim})
                       for i in range(batch, batch + 250)])
    bulk(cluster, [({"index": {"_index": index, "_id": "giant"}},
                    {"merchant_id": "merchant_004", "action": "g" * 17_000_000, "timestamp": claim})])
    put(cluster, index, "honest-fix", {"merchant_id": "merchant_001", "action": "rollback_release", "timestamp": claim})
    outcome = hourly_in_a_process(cluster, run_hour, {"SCENARIO": "closed-loop.json", "REMEDIATION": "on"})
    summary = outcome["summary"]
    assert (summary["status"], summary["documents"], summary["indexed"], summary["failed"]) == ("ok", 20, 20, 0)
    assert outcome["maxrss_mb"] <= 256, outcome
    assert "reading them in pieces" in outcome["stderr"]
    seen = {r["remediation_id"]: r for r in cluster.documents("pp-merchantai-incidents").values()
            if r["kind"] == "remediation_seen"}
    assert len(seen) == 1002
    assert seen["giant"]["malformed"] == f"larger than the {es.MAX_ANSWER_BYTES} bytes a run reads of one answer"
    assert {seen[f"wide-{i}"]["malformed"] for i in range(1000)} == {"larger than 4096 bytes"}
    assert (seen["honest-fix"]["malformed"], seen["honest-fix"]["refused"]) == (None, None)
    record = key_records(cluster)["file-checkout_regression-merchant_001-2026111606"]
    assert (record["resolved_by"], record["remediation_id"], record["resolved_at"]) == (
        "remediation", "honest-fix", claim)
    print(f"huge values: {outcome['seconds']:.1f} s, peak {outcome['maxrss_mb']:.0f} MB")


def junk_records(first: datetime, hours: int, count: int):
    """count of the bench's records of refused, malformed and findings documents, spread over hours
    from first, with ids and actions as long as a document may have them (128 bytes)."""
    for i in range(count):
        at = iso(first + (i % hours) * HOUR)
        doc_id = f"junk-{i}-".ljust(128, "j")
        base = {"incident_id": f"remediation_seen-junk{i:027d}", "kind": "remediation_seen", "digest": f"junk{i}",
                "seen_at": at, "claimed_at": at, "timestamp": at, "remediation_id": doc_id,
                "action": "a" * 128, "merchant_id": f"merchant_{i % 20 + 1:03d}", "payment_provider": None,
                "refused": "rate_limit", "malformed": None}
        if i % 3 == 1:
            base.update(action=None, merchant_id=None, refused=None, malformed="merchant_id is longer than 128 bytes")
        elif i % 3 == 2:
            base = {"incident_id": f"finding_seen-junk{i:027d}", "kind": "finding_seen", "digest": f"junk{i}",
                    "seen_at": at, "claimed_at": at, "timestamp": at, "finding_id": doc_id,
                    "finding": {"merchant_id": "merchant_002", "issue": "low_conversion", "timestamp": at}}
        yield {"index": {"_index": "pp-merchantai-incidents", "_id": base["incident_id"]}}, base


def test_the_benchs_records_of_days_of_junk_weigh_nothing_on_the_hourly_run(cluster, engine):
    """A hostile AI made the bench record 200,000 refused, malformed and findings documents over the
    7 days an incident was held open. The run reads only the records that act and those of the
    last day (up to es.RECENT_RECORDS): what it writes is what it writes without them, within budget."""
    from conftest import Cluster, Proxy

    env = {"SCENARIO": "closed-loop.json", "REMEDIATION": "on", "FINDINGS_INDEX": "agent-findings"}
    run_hour = ONSET + 6 * 24 * HOUR  # the checkout regression of ONSET still waits for a fix
    clean = engine.clone()
    control = Cluster(clean, Proxy(clean.url))
    try:
        for each in (cluster, control):  # the templates and the indices, as a deployment has them
            hourly_in_a_process(each, DAY1, env)
        junk = junk_records(run_hour - 7 * 24 * HOUR, 7 * 24 - 2, 200_000)
        while batch := [pair for _, pair in zip(range(25_000), junk)]:
            bulk(cluster, batch)
        outcome = hourly_in_a_process(cluster, run_hour, env)
        hourly_in_a_process(control, run_hour, env)
        summary = outcome["summary"]
        assert (summary["status"], summary["documents"], summary["indexed"], summary["failed"]) == ("ok", 20, 20, 0)
        assert outcome["maxrss_mb"] <= 256, outcome
        # The malformed ones were logged by the runs that saw them, not again by every later run.
        assert "skipped" not in outcome["stderr"]
        assert cluster.documents() == control.documents()
        assert key_records(cluster) == key_records(control)
        assert key_records(cluster)["file-checkout_regression-merchant_001-2026111606"]["resolved_by"] == "timeout"
    finally:
        control.proxy.close()
        clean.close()
    print(f"junk records: {outcome['seconds']:.1f} s, peak {outcome['maxrss_mb']:.0f} MB")
