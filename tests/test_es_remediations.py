"""The remediations index on the wire: exact request shapes and failures, intercepted with responses."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
import responses

import es

HOST = "https://example.es.io:443"
HEADERS = {"X-Elastic-Product": "Elasticsearch"}
INDEX = "pp-merchantai-remediations"
SEARCH = f"{HOST}/{INDEX}/_search"
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


def search_reply(hits, total=None, relation="eq"):
    body = {"hits": {"total": {"value": len(hits) if total is None else total, "relation": relation}}}
    if hits:  # filter_path drops an empty hits list, as Elasticsearch does
        body["hits"]["hits"] = hits
    return body


@responses.activate
def test_one_bounded_search_reads_the_window(client):
    responses.add(responses.POST, SEARCH, json=search_reply(HITS), headers=HEADERS)
    assert es.read_remediations(client, INDEX, START, END) == HITS
    (call,) = responses.calls
    assert call.request.method == "POST" and urlsplit(call.request.url).path == f"/{INDEX}/_search"
    assert call.request.params == {
        "ignore_unavailable": "true", "filter_path": "hits.total,hits.hits._id,hits.hits._source"}
    assert json.loads(call.request.body) == {
        "query": {"range": {"timestamp": {"gte": START, "lt": END}}}, "size": 10000}


@responses.activate
def test_a_missing_index_holds_no_remediations(client):
    # What Elasticsearch answers for a missing index with ignore_unavailable, once filtered.
    responses.add(responses.POST, SEARCH, json=search_reply([]), headers=HEADERS)
    assert es.read_remediations(client, INDEX, START, END) == []
    assert len(responses.calls) == 1


@responses.activate
@pytest.mark.parametrize("total, relation", [(10_000, "gte"), (10_001, "eq")])
def test_more_remediations_than_one_search_returns_is_refused_by_name(client, total, relation):
    responses.add(responses.POST, SEARCH, json=search_reply(HITS, total, relation), headers=HEADERS)
    with pytest.raises(es.IndexingError, match=f"more than 10000 remediations in '{INDEX}' between {START} and {END}"):
        es.read_remediations(client, INDEX, START, END)


@responses.activate
def test_a_busy_cluster_is_retried(client):
    responses.add(responses.POST, SEARCH, json={"error": "busy"}, status=503, headers=HEADERS)
    responses.add(responses.POST, SEARCH, json=search_reply(HITS), headers=HEADERS)
    assert es.read_remediations(client, INDEX, START, END) == HITS
    assert len(responses.calls) == 2


@responses.activate
def test_a_key_without_read_on_the_index_is_named(client):
    responses.add(responses.POST, SEARCH, json={"error": "forbidden"}, status=403, headers=HEADERS)
    with pytest.raises(es.CredentialsError) as excinfo:
        es.read_remediations(client, INDEX, START, END)
    assert len(responses.calls) == 1
    message = str(excinfo.value)
    assert f"refused reading remediations from '{INDEX}' with HTTP 403" in message
    assert f"(it needs read on {INDEX})" in message
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
