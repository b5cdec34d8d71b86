"""What the hourly run reads of the AI's indices and the bench's records, on the wire: exact request
shapes and failures, intercepted with responses."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
import responses

import es
import ledger

HOST = "https://example.es.io:443"
HEADERS = {"X-Elastic-Product": "Elasticsearch"}
INDEX = "pp-merchantai-remediations"
MSEARCH = f"{HOST}/_msearch"
START, END = "2026-11-20T08:00:00Z", "2026-11-27T09:00:00Z"
HITS = [
    {"_id": "merchant_003-rollback_release-2026112610",
     "_source": {"merchant_id": "merchant_003", "action": "rollback_release", "timestamp": "2026-11-26T10:00:00Z"}},
    {"_id": "Stripe-failover_payment_provider-2026112700",
     "_source": {"payment_provider": "Stripe", "action": "failover_payment_provider",
                 "timestamp": "2026-11-27T00:00:00Z", "note": "errors on every Stripe merchant"}},
]


@pytest.fixture
def client(monkeypatch):
    monkeypatch.setattr(es, "INITIAL_BACKOFF_S", 0)
    return es.connect(HOST, api_key="a2V5OnNlY3JldA==")


WINDOW = ledger.Window("2026-11-20T08:00:00Z", START, END)
KEY = "pp-merchantai-incidents"
RECORD = {"incident_id": "remediation_seen-0f", "kind": "remediation_seen", "digest": "0f"}


def search_reply(hits, total=None, relation="eq"):
    body = {"hits": {"total": {"value": len(hits) if total is None else total, "relation": relation}}, "status": 200}
    if hits:  # filter_path drops an empty hits list, as Elasticsearch does
        body["hits"]["hits"] = hits
    return body


def msearch(*answers):
    responses.add(responses.POST, MSEARCH, json={"responses": list(answers)}, headers=HEADERS)


def read(client, **indices):
    return es.read_seen(client, WINDOW, KEY, **({"remediation_index": INDEX} | indices))


@responses.activate
def test_one_msearch_reads_the_window_of_the_ai_and_the_benchs_records(client):
    msearch(search_reply(HITS), search_reply([{"_source": RECORD, "sort": ["remediation_seen-0f"]}]))
    seen = read(client)
    assert (seen.remediations, seen.findings, seen.records) == (HITS, [], [RECORD])
    (call,) = responses.calls
    assert urlsplit(call.request.url).path == "/_msearch"
    assert call.request.params == {"filter_path": es.SEEN_FILTER_PATH}
    lines = [json.loads(line) for line in call.request.body.decode().splitlines()]
    assert lines == [
        {"index": INDEX, "ignore_unavailable": True},
        {"query": {"range": {"timestamp": {"gte": START, "lt": END}}}, "size": 2000,
         "_source": ["merchant_id", "payment_provider", "action", "timestamp", "incident_id"], "track_total_hits": True},
        {"index": KEY, "ignore_unavailable": True},
        {"query": {"bool": {"filter": [{"terms": {"kind": ["remediation_seen", "finding_seen"]}}],
                            "minimum_should_match": 1, "should": [
                                {"range": {"timestamp": {"gte": "2026-11-20T08:00:00Z", "lt": END}}},
                                {"range": {"claimed_at": {"gte": START, "lt": END}}}]}},
         "size": 10000, "sort": [{"incident_id": "asc"}], "track_total_hits": True,
         "_source": {"excludes": ["finding"]}},
    ]


@responses.activate
def test_the_findings_index_is_one_more_search_of_the_same_request(client):
    finding = {"_id": "f1", "_source": {"merchant_id": "merchant_001", "issue": "low_conversion", "timestamp": END}}
    msearch(search_reply(HITS), search_reply([finding]), search_reply([]))
    seen = read(client, findings_index="agent-findings")
    assert (seen.remediations, seen.findings, seen.records) == (HITS, [finding], [])
    lines = [json.loads(line) for line in responses.calls[0].request.body.decode().splitlines()]
    assert lines[2] == {"index": "agent-findings", "ignore_unavailable": True}
    assert lines[3]["_source"] == ["merchant_id", "issue", "timestamp", "root_cause"]


@responses.activate
def test_more_documents_than_one_page_are_left_for_later_runs_not_fatal(client, caplog):
    msearch(search_reply(HITS, 100_000), search_reply([]))
    assert read(client).remediations == HITS
    assert f"100000 documents in '{INDEX}' claim {START} to {END}: 2 read this run, the rest wait" in caplog.text


@responses.activate
def test_an_ai_index_the_search_cannot_read_holds_nothing_this_run(client, caplog):
    broken = {"error": {"type": "search_phase_execution_exception"}, "status": 400}
    msearch(broken, search_reply([]))
    assert read(client).remediations == []
    assert f"cannot read '{INDEX}' this run (HTTP 400)" in caplog.text


@responses.activate
def test_the_benchs_records_beyond_one_page_are_paged_through(client):
    first = [{"_source": {**RECORD, "incident_id": f"r{i}"}, "sort": [f"r{i}"]} for i in range(2)]
    msearch(search_reply([]), search_reply(first, total=3))
    responses.add(responses.POST, f"{HOST}/{KEY}/_search", headers=HEADERS,
                  json=search_reply([{"_source": {**RECORD, "incident_id": "r2"}, "sort": ["r2"]}], total=3))
    assert [r["incident_id"] for r in read(client).records] == ["r0", "r1", "r2"]
    assert json.loads(responses.calls[1].request.body)["search_after"] == ["r1"]


@responses.activate
def test_a_busy_cluster_is_retried(client):
    responses.add(responses.POST, MSEARCH, json={"error": "busy"}, status=503, headers=HEADERS)
    msearch(search_reply(HITS), search_reply([]))
    assert read(client).remediations == HITS
    assert len(responses.calls) == 2


@responses.activate
def test_a_key_without_read_on_the_indices_is_named(client):
    responses.add(responses.POST, MSEARCH, json={"error": "forbidden"}, status=403, headers=HEADERS)
    with pytest.raises(es.CredentialsError) as excinfo:
        read(client)
    assert len(responses.calls) == 1
    message = str(excinfo.value)
    assert f"(it needs read on {INDEX}, {KEY})" in message
    assert "a2V5OnNlY3JldA==" not in message


@responses.activate
def test_writing_one_remediation_overwrites_by_id_and_waits_for_visibility(client):
    doc_id = "merchant_003-rollback_release-2026112610"
    responses.add(responses.PUT, f"{HOST}/{INDEX}/_doc/{doc_id}", headers=HEADERS, status=201,
                  json={"_id": doc_id, "result": "created"})
    es.write_remediation(client, INDEX, doc_id, HITS[0]["_source"])
    (call,) = responses.calls
    assert call.request.method == "PUT" and urlsplit(call.request.url).path == f"/{INDEX}/_doc/{doc_id}"
    assert call.request.params == {"refresh": "wait_for"}
    assert json.loads(call.request.body) == HITS[0]["_source"]


@responses.activate
def test_a_key_without_write_on_the_index_is_named(client):
    responses.add(responses.PUT, f"{HOST}/{INDEX}/_doc/x", json={"error": "forbidden"}, status=403, headers=HEADERS)
    with pytest.raises(es.CredentialsError, match=f"\\(it needs write on {INDEX}\\)"):
        es.write_remediation(client, INDEX, "x", HITS[0]["_source"])
