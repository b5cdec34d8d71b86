"""Integration tests: the real client over HTTP to a real engine process (osmem-server)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest

import data_generator
import generator
from config import Config

T0 = datetime(2026, 11, 27, 8, tzinfo=timezone.utc)
SCHEDULED = {
    "version": "0", "id": "e7c6f1a2-0000-4000-8000-000000000000", "detail-type": "Scheduled Event",
    "source": "aws.events", "account": "123456789012", "time": "2026-11-27T08:00:07Z",
    "region": "us-east-1", "resources": ["arn:aws:events:us-east-1:123456789012:rule/hourly"], "detail": {},
}


@pytest.fixture
def host(cluster, monkeypatch):
    monkeypatch.setenv("ELASTICSEARCH_HOST", cluster.url)
    return cluster


def expected(hours, merchants=20, seed=1729, **settings):
    cfg = Config(merchants=merchants, seed=seed, **settings)
    roster = generator.roster(seed, merchants)
    return {
        generator.document_id(m, hour): doc
        for hour in hours for m, doc in zip(roster, data_generator.documents(cfg, hour))
    }


def test_scheduled_hour_indexes_one_document_per_merchant(host):
    summary = data_generator.lambda_handler(SCHEDULED, None)
    assert (summary["status"], summary["documents"], summary["indexed"]) == ("ok", 20, 20)
    assert host.count() == 20
    assert host.documents() == expected([T0])


def test_mapping_comes_from_the_template(host):
    data_generator.lambda_handler(SCHEDULED, None)
    properties = host.get("/pp-merchantai/_mapping")["pp-merchantai"]["mappings"]["properties"]
    # GROUND_TRUTH=separate (the default): no truth field in the data index, not even in its mapping.
    assert {name: spec["type"] for name, spec in properties.items()} == {
        "merchant_id": "keyword", "merchant_name": "keyword", "category": "keyword", "payment_provider": "keyword",
        "city": "keyword", "country": "keyword", "timestamp": "date", "sessions": "integer",
        "transaction_count": "integer", "successful_transactions": "integer", "failed_transactions": "integer",
        "conversion_rate": "float", "error_rate": "float", "location": "geo_point",
    }


def test_rerunning_an_hour_overwrites_and_never_duplicates(host):
    for _ in range(3):
        data_generator.lambda_handler(SCHEDULED, None)
        data_generator._client.cache_clear()  # a cold container each time, too
    assert host.count() == 20
    assert host.documents() == expected([T0])


def test_backfill_adds_every_hour_exactly_once(host):
    data_generator.lambda_handler(SCHEDULED, None)
    summary = data_generator.lambda_handler({"start": "2026-11-26T09:00:00Z", "end": "2026-11-27T09:00:00Z"}, None)
    assert (summary["hours"], summary["documents"], summary["indexed"]) == (24, 480, 480)
    # 08:00 on the 27th was already there: 24 hours in all, not 25.
    assert host.count() == 480
    assert host.documents() == expected([T0 - timedelta(hours=h) for h in range(24)])


def test_backfill_spanning_several_bulk_chunks(host, monkeypatch):
    monkeypatch.setattr(data_generator.es, "CHUNK_SIZE", 7)
    summary = data_generator.lambda_handler({"start": "2026-11-27T00:00:00Z", "end": "2026-11-27T03:00:00Z"}, None)
    bulks = [r for r in host.proxy.requests if r.path.startswith("/_bulk")]
    assert "answer_key_records" not in summary
    # 60 documents in chunks of 7 (9 chunks), the 9 answer-key records ahead of the first in requests of 7.
    assert len(bulks) == 11
    assert summary["indexed"] == 60 and host.count() == 60 and host.count("pp-merchantai-incidents") == 9


def test_warm_invocation_makes_exactly_one_request(host):
    data_generator.lambda_handler(SCHEDULED, None)
    before = len(host.proxy.requests)
    data_generator.lambda_handler({"time": "2026-11-27T07:00:00Z"}, None)
    assert [(r.method, r.path.split("?")[0]) for r in host.proxy.requests[before:]] == [("PUT", "/_bulk")]
    assert host.count() == 40


def test_queries_a_dashboard_will_run_find_the_labelled_problems_with_the_truth_inline(host, monkeypatch):
    monkeypatch.setenv("GROUND_TRUTH", "inline")
    data_generator.lambda_handler({"start": "2026-11-27T00:00:00Z", "end": "2026-11-27T06:00:00Z"}, None)
    host.get("/pp-merchantai/_refresh")
    body = json.dumps({"size": 0, "query": {"term": {"issues": "low_conversion"}},
                       "aggs": {"m": {"terms": {"field": "merchant_id"}}}}).encode()
    import urllib.request
    request = urllib.request.Request(host.clone.url + "/pp-merchantai/_search", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        buckets = json.loads(response.read())["aggregations"]["m"]["buckets"]
    assert {b["key"]: b["doc_count"] for b in buckets} == {
        "merchant_009": 6, "merchant_012": 6, "merchant_019": 6}


def test_cli_indexes_a_range_through_the_same_path(host, capsys):
    code = data_generator.main(["--start", "2026-11-27T00:00:00Z", "--end", "2026-11-27T02:00:00Z",
                                "--merchants", "5"])
    assert code == 0
    assert host.count() == 10
    err = capsys.readouterr().err
    summary = json.loads(next(line for line in err.splitlines() if line.startswith("{")))
    assert err.splitlines()[-1].startswith("done: 10 documents in ")
    assert (summary["indexed"], summary["hours"]) == (10, 2)


def test_custom_index_gets_its_own_template(host, monkeypatch):
    monkeypatch.setenv("ELASTICSEARCH_INDEX", "merchants-test")
    data_generator.lambda_handler(SCHEDULED, None)
    assert host.count("merchants-test") == 20
    template = host.get("/_index_template/merchants-test")["index_templates"][0]["index_template"]
    assert template["index_patterns"] == ["merchants-test"]


def test_the_engine_holds_the_template_strict_at_priority_500(host):
    """As README promises: dynamic strict, priority 500, read back from the engine itself."""
    # A broader template just below ours, as another tool might leave behind: ours must win.
    request = urllib.request.Request(host.clone.url + "/_index_template/other", method="PUT",
                                     headers={"Content-Type": "application/json"}, data=json.dumps({
                                         "index_patterns": ["pp-*"], "priority": 499,
                                         "template": {"mappings": {"dynamic": True}}}).encode())
    urllib.request.urlopen(request).close()
    data_generator.lambda_handler(SCHEDULED, None)
    (stored,) = host.get("/_index_template/pp-merchantai")["index_templates"]
    assert stored["index_template"]["priority"] == 500
    assert stored["index_template"]["index_patterns"] == ["pp-merchantai"]
    assert stored["index_template"]["template"]["mappings"]["dynamic"] == "strict"
    assert host.get("/pp-merchantai/_mapping")["pp-merchantai"]["mappings"]["dynamic"] == "strict"
    # Strict for real: a document with a field outside the mapping is refused.
    stray = urllib.request.Request(host.clone.url + "/pp-merchantai/_doc/stray", method="PUT",
                                   headers={"Content-Type": "application/json"},
                                   data=json.dumps({"merchant_id": "m", "stray": 1}).encode())
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(stray)
    assert refused.value.code == 400
    assert json.loads(refused.value.read())["error"]["type"] == "strict_dynamic_mapping_exception"
