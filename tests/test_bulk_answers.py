"""A 200 answer to a _bulk counts only if it says what happened to every action (issue 19).

Behind the proxy (tests/shim.py) the real engine indexes what is forwarded, and the answer
is then broken the way half-broken clusters and load balancers break it. Either the request
is retried whole and every document and record lands, or the run stops with one line.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

import config
import data_generator
import es
import incidents
from reliability import EVENTS, FakeClock, expected_documents, fast, scheduled
from shim import Fault, Reply, Rewrite, Withheld, bulk_ids, is_bulk

ROOT = Path(__file__).resolve().parent.parent
LAMBDA_TIMEOUT_S = 300
START, HOURS = EVENTS["scheduled-hour"][1]  # one hour: 9 answer-key records, then 20 documents


def swapped(answer):
    answer["items"][0], answer["items"][1] = answer["items"][1], answer["items"][0]
    return answer


# name -> (the broken answer to a _bulk request, what the warning and the error say was wrong)
MALFORMED = {
    "200-empty-object": (lambda request: Reply(200, {}), "no items list"),
    "200-plain-text": (lambda request: Reply(200, "OK", "text/plain"), "not a JSON object but str 'OK'"),
    "200-not-json": (lambda request: Reply(200, '{"items": [', "application/json"), "not valid JSON"),
    # Actions 10-14 (documents of merchant_001-005) never reach the engine, and the answer is silent on them.
    "5-items-missing": (lambda request: Withheld({_id: None for _id in bulk_ids(request)[10:15]}),
                        "24 items for 29 actions"),
    # Action 12 never reaches the engine; its item has no status.
    "item-without-status": (lambda request: Withheld({bulk_ids(request)[12]: {}}),
                            "item 12 (merchant_004-2026110105) has no HTTP status (got None)"),
    "items-out-of-order": (lambda request: Rewrite(swapped),
                           "item 0 does not answer action 0 (missing_location-merchant_003)"),
}


def records(start=START, hours=HOURS) -> dict:
    found, _ = incidents.answer_key(config.Config(), config.HourRange(start, start + hours * config.HOUR))
    return {record["incident_id"]: record for record in found}


@pytest.mark.parametrize("name", MALFORMED)
def test_a_malformed_answer_is_retried_whole_and_everything_lands(cluster, monkeypatch, caplog, name):
    fast(monkeypatch)
    monkeypatch.setenv(config.ELASTICSEARCH_HOST, cluster.url)
    caplog.set_level("WARNING", logger="pp_merchantai.es")
    answer, wrong = MALFORMED[name]
    fault = Fault(answer, times=2, when=is_bulk)
    cluster.proxy.faults.append(fault)

    summary = data_generator.lambda_handler(scheduled(), FakeClock(cluster.proxy, monkeypatch).context(LAMBDA_TIMEOUT_S))

    assert fault.fired == 2
    assert (summary["status"], summary["documents"], summary["indexed"], summary["failed"]) == ("ok", 20, 20, 0)
    assert "answer_key_records" not in summary
    # The whole request, all 29 actions, sent three times.
    assert [len(bulk_ids(b)) for b in cluster.proxy.bulk_requests()] == [29, 29, 29]
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 2
    assert all(f"bulk request of 20 documents and answer-key records failed (malformed _bulk answer: {wrong}); "
               "retrying" in w for w in warnings)
    assert cluster.documents() == expected_documents(START, HOURS)
    assert cluster.documents("pp-merchantai-incidents") == records()


def cli(cluster, *argv):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ELASTICSEARCH_", "MERCHANT_", "GENERATOR_"))}
    env[config.ELASTICSEARCH_HOST] = cluster.url
    return subprocess.run([sys.executable, str(ROOT / "lambda" / "data_generator.py"), *argv],
                          capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.parametrize("name", MALFORMED)
def test_a_malformed_answer_every_time_exits_1_in_one_line_and_counts_nothing(cluster, name):
    answer, wrong = MALFORMED[name]
    cluster.proxy.faults.append(Fault(answer, times=10**6, when=is_bulk))

    result = cli(cluster, "--start", "2026-11-01T05:00:00Z", "--end", "2026-11-01T06:00:00Z", "--patience", "0")

    assert result.returncode == 1
    assert result.stdout == "" and "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        f"error: bulk request of 20 documents and answer-key records failed after 1 attempt(s) over 0 s "
        f"(malformed _bulk answer: "
        f"{wrong}); gave up after 0 s of retrying (--patience)"]
    # No summary claims anything: the run stopped at the one request it could not account for.
    assert '"indexed"' not in result.stderr
    assert len(cluster.proxy.bulk_requests()) == 1


def test_a_backfill_stopped_by_malformed_answers_claims_only_what_was_answered(cluster, monkeypatch):
    """Two requests land; the third's answers never say what happened: partial, resumable, honest.

    The shipped backoffs on a fake clock, in 100-pair chunks."""
    monkeypatch.setattr(es, "CHUNK_SIZE", 100)
    monkeypatch.setattr(es, "JITTER", random.Random(1729))
    monkeypatch.setenv(config.ELASTICSEARCH_HOST, cluster.url)
    clock = FakeClock(cluster.proxy, monkeypatch)
    bulks = lambda: len(cluster.proxy.bulk_requests())  # noqa: E731
    cluster.proxy.faults.append(lambda request: Withheld({_id: None for _id in bulk_ids(request)[:5]})
                                if is_bulk(request) and bulks() > 2 else None)
    event, (start, hours) = EVENTS["backfill-24h"]

    summary = data_generator.lambda_handler(event, clock.context(LAMBDA_TIMEOUT_S))

    # The first chunk, 9 records and 100 documents, takes the first two requests: 5 whole hours.
    assert summary["status"] == "partial" and summary["resume_from"] == "2026-11-01T05:00:00Z"
    assert summary["indexed"] == summary["documents"] == 100
    # The engine holds the second chunk's 95 forwarded documents too: never counted, since no item said so.
    assert len(cluster.documents()) == 100 + 95
    cluster.proxy.faults.clear()
    assert data_generator.lambda_handler({"start": summary["resume_from"], "end": event["end"]},
                                         clock.context(LAMBDA_TIMEOUT_S))["status"] == "ok"
    assert cluster.documents() == expected_documents(start, hours)
    assert cluster.documents("pp-merchantai-incidents") == records(start, hours)


ACTION = '{"index":{"_index":"k","_id":' + json.dumps("unmatched_action-é\"1") + "}}"


@pytest.mark.parametrize("items, wrong", [
    ([{"index": {"_id": "unmatched_action-é\"1", "status": 201}}], None),  # an escaped id: parsed, not compared as text
    ([{"index": {"_id": "unmatched_action-é\"1", "status": True}}], "has no HTTP status (got True)"),
    ([{"index": {"_id": "unmatched_action-é\"1", "status": 0}}], "has no HTTP status (got 0)"),
    ([{"index": {"_id": "unmatched_action-é\"1", "status": "201"}}], "has no HTTP status (got 201)"),
    ([{"create": {"_id": "unmatched_action-é\"1", "status": 201}}], "item 0 does not answer action 0"),
    ([{"index": {"_id": "other", "status": 201}}], "item 0 does not answer action 0"),
    ([{"index": {"status": 201}}], "item 0 does not answer action 0"),
    ([{"index": {"_id": "unmatched_action-é\"1", "status": 201}, "delete": {}}], "item 0 does not answer action 0"),
    (["index"], "item 0 does not answer action 0"),
    ([], "0 items for 1 actions"),
])
def test_each_item_must_name_its_action_and_id_and_carry_a_status(items, wrong):
    pairs = [(ACTION, "{}")]
    if wrong is None:
        assert es._items({"items": items}, pairs) == [items[0]["index"]]
        return
    with pytest.raises(es._Malformed, match=wrong.replace("(", r"\(").replace(")", r"\)")):
        es._items({"items": items}, pairs)
