"""What the hourly run reads of the AI's indices and the bench's records, on the wire: exact request
shapes and failures, intercepted with responses."""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import pytest
import responses

import es
import ledger
import remediations

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
# About a second of retrying a broken answer (no backoff), then OutOfTime.
PATIENCE = es.REQUEST_TIMEOUT_S + 1


def search_reply(hits, total=None, relation="eq"):
    body = {"hits": {"total": {"value": len(hits) if total is None else total, "relation": relation}}, "status": 200}
    if hits:  # filter_path drops an empty hits list, as Elasticsearch does
        body["hits"]["hits"] = hits
    return body


def msearch(*answers):
    responses.add(responses.POST, MSEARCH, json={"responses": list(answers)}, headers=HEADERS)


def read(client, **indices):
    return es.read_seen(client, WINDOW, KEY, **({"remediation_index": INDEX} | indices),
                        retrier=es.Retrier(patience=PATIENCE))


def record_hit(incident_id, **fields):
    return {"_id": incident_id, "_source": {**RECORD, "incident_id": incident_id, **fields}, "sort": [incident_id]}


ACTING = {"bool": {"filter": [{"term": {"kind": "remediation_seen"}},
                              {"range": {"timestamp": {"gte": "2026-11-20T08:00:00Z", "lt": END}}}],
                   "must_not": [{"exists": {"field": "refused"}}, {"exists": {"field": "malformed"}}]}}
RECENT = {"bool": {"filter": [{"terms": {"kind": ["remediation_seen", "finding_seen"]}}],
                   "minimum_should_match": 1, "should": [
                       {"range": {"timestamp": {"gte": START, "lt": END}}},
                       {"range": {"claimed_at": {"gte": START, "lt": END}}}]}}


@responses.activate
def test_one_msearch_reads_the_window_of_the_ai_and_the_benchs_records(client):
    msearch(search_reply(HITS), search_reply([record_hit("remediation_seen-0f")]), search_reply([]))
    seen = read(client)
    assert (seen.remediations, seen.findings, seen.records) == (HITS, [], [RECORD])
    (call,) = responses.calls
    assert urlsplit(call.request.url).path == "/_msearch"
    assert call.request.params == {"filter_path": es.SEEN_FILTER_PATH}
    lines = [json.loads(line) for line in call.request.body.decode().splitlines()]
    records = {"size": 10000, "sort": [{"incident_id": "asc"}], "track_total_hits": True,
               "_source": {"excludes": ["finding"]}}
    assert lines == [
        {"index": INDEX, "ignore_unavailable": True},
        {"query": {"range": {"timestamp": {"gte": START, "lt": END}}}, "size": 2000,
         "_source": ["merchant_id", "payment_provider", "action", "timestamp", "incident_id"], "track_total_hits": True},
        # The records that act in the window (never a refused or malformed one: however many the AI
        # made the bench write, they weigh nothing here), and those of the AI's recent documents.
        {"index": KEY, "ignore_unavailable": True}, {"query": ACTING, **records},
        {"index": KEY, "ignore_unavailable": True}, {"query": RECENT, **records},
    ]


@responses.activate
def test_the_findings_index_is_one_more_search_of_the_same_request(client):
    finding = {"_id": "f1", "_source": {"merchant_id": "merchant_001", "issue": "low_conversion", "timestamp": END}}
    msearch(search_reply(HITS), search_reply([finding]), search_reply([]), search_reply([]))
    seen = read(client, findings_index="agent-findings")
    assert (seen.remediations, seen.findings, seen.records) == (HITS, [finding], [])
    lines = [json.loads(line) for line in responses.calls[0].request.body.decode().splitlines()]
    assert lines[2] == {"index": "agent-findings", "ignore_unavailable": True}
    assert lines[3]["_source"] == ["merchant_id", "issue", "timestamp", "root_cause"]


@responses.activate
def test_more_documents_than_one_page_are_left_for_later_runs_not_fatal(client, caplog):
    msearch(search_reply(HITS, 100_000), search_reply([]), search_reply([]))
    assert read(client).remediations == HITS
    assert f"100000 documents in '{INDEX}' claim {START} to {END}: 2 read this run, the rest wait" in caplog.text


@responses.activate
def test_an_ai_index_the_search_cannot_read_holds_nothing_this_run(client, caplog):
    broken = {"error": {"type": "search_phase_execution_exception"}, "status": 400}
    msearch(broken, search_reply([]), search_reply([]))
    assert read(client).remediations == []
    assert f"cannot read '{INDEX}' this run (HTTP 400)" in caplog.text


@responses.activate
def test_the_benchs_acting_records_beyond_one_page_are_paged_through(client):
    msearch(search_reply([]), search_reply([record_hit("r0"), record_hit("r1")], total=3), search_reply([]))
    responses.add(responses.POST, f"{HOST}/{KEY}/_search", headers=HEADERS,
                  json=search_reply([record_hit("r2")], total=3))
    assert [r["incident_id"] for r in read(client).records] == ["r0", "r1", "r2"]
    body = json.loads(responses.calls[1].request.body)
    assert (body["search_after"], body["query"]) == (["r1"], ACTING)


@responses.activate
def test_past_the_recent_records_read_those_of_the_documents_read_are_looked_up_by_digest(client, monkeypatch):
    # More recent records than one search reads (the AI made the bench write them): one more search
    # finds those of the two documents read, by their digests, and nothing else.
    monkeypatch.setattr(es, "RECENT_RECORDS", 1)
    mine = [ledger.version(hit, ledger.REMEDIATION_FIELDS)[2] for hit in HITS]
    msearch(search_reply(HITS), search_reply([]), search_reply([record_hit("x", digest="other")], total=50_000))
    responses.add(responses.POST, f"{HOST}/{KEY}/_search", headers=HEADERS,
                  json=search_reply([record_hit("remediation_seen-" + mine[0], digest=mine[0])]))
    seen = read(client)
    assert sorted(r["digest"] for r in seen.records) == sorted(["other", mine[0]])
    body = json.loads(responses.calls[1].request.body)
    assert body["query"] == {"bool": {"filter": [{"terms": {"kind": ["remediation_seen", "finding_seen"]}},
                                                 {"terms": {"digest": sorted(mine)}}]}}
    assert len(responses.calls) == 2


@responses.activate
def test_a_busy_cluster_is_retried(client):
    responses.add(responses.POST, MSEARCH, json={"error": "busy"}, status=503, headers=HEADERS)
    msearch(search_reply(HITS), search_reply([]), search_reply([]))
    assert read(client).remediations == HITS
    assert len(responses.calls) == 2


# --- answers without the shape the reads rely on (issue 19): retried, then the named error ---

GOOD = search_reply([record_hit("r0")])
BROKEN_ANSWERS = {
    "not-an-object": ({"responses": "nope"}, "no responses for 3 searches"),
    "too-few-responses": ({"responses": [search_reply(HITS), GOOD]}, "2 responses for 3 searches"),
    "no-hits": ({"responses": [search_reply(HITS), {"status": 200}, GOOD]}, "no hits object"),
    "total-not-a-count": ({"responses": [search_reply(HITS), {"hits": {"total": {"value": "3"}}}, GOOD]},
                          "no hits.total.value count"),
    "total-a-bool": ({"responses": [search_reply(HITS), {"hits": {"total": {"value": True}}}, GOOD]},
                     "no hits.total.value count"),
    "hits-not-a-list": ({"responses": [{"hits": {"total": {"value": 1}, "hits": {"_id": "x"}}}, GOOD, GOOD]},
                        "hits.hits is not a list"),
    "hit-without-id": ({"responses": [search_reply([{"_source": {}}]), GOOD, GOOD]}, "hit 0 has no string _id"),
    "record-without-source": ({"responses": [search_reply(HITS), search_reply([{"_id": "r0", "sort": ["r0"]}]), GOOD]},
                              "hit 0 (r0) has no _source object"),
    "record-without-sort": ({"responses": [search_reply(HITS), search_reply([{"_id": "r0", "_source": RECORD}]), GOOD]},
                            "hit 0 (r0) has no sort values"),
}


@pytest.mark.parametrize("name", BROKEN_ANSWERS)
@responses.activate
def test_a_search_answer_without_the_shape_relied_on_is_retried_then_fails_named(client, caplog, name):
    body, wrong = BROKEN_ANSWERS[name]
    responses.add(responses.POST, MSEARCH, json=body, headers=HEADERS)
    msearch(search_reply(HITS), GOOD, search_reply([]))
    assert read(client).remediations == HITS  # the second answer is whole
    assert f"failed (malformed search answer: {wrong}); retrying" in caplog.text
    responses.reset()
    responses.add(responses.POST, MSEARCH, json=body, headers=HEADERS)
    with pytest.raises(es.OutOfTime, match=re.escape(f"(malformed search answer: {wrong})")):
        read(client)


@responses.activate
def test_a_records_page_without_the_shape_relied_on_fails_named(client):
    msearch(search_reply([]), search_reply([record_hit("r0")], total=2), search_reply([]))
    responses.add(responses.POST, f"{HOST}/{KEY}/_search", headers=HEADERS,
                  json={"hits": {"total": {"value": 2}, "hits": [{"_id": "r1", "_source": RECORD}]}})
    with pytest.raises(es.OutOfTime, match="malformed search answer: hit 0 \\(r1\\) has no sort values"):
        read(client)


# --- the cap on answers ---------------------------------------------------------------------------


@responses.activate
def test_an_answer_longer_than_the_cap_is_not_read_and_the_ai_documents_are_read_in_pieces(monkeypatch, caplog):
    """The one search is too long: the bench's records and the AI's documents are read on their own,
    these in pieces halved until they fit; one document too large alone is read by its id only."""
    monkeypatch.setattr(es, "INITIAL_BACKOFF_S", 0)
    client = es.connect(HOST, max_answer_bytes=4000)
    small = [{"_id": f"ok-{i}", "_source": {"merchant_id": "merchant_001", "action": "a", "timestamp": START}}
             for i in range(3)]
    huge = {"_id": "huge", "_source": {"merchant_id": "merchant_001", "action": "x" * 5000, "timestamp": START}}
    documents = small[:2] + [huge] + small[2:]
    msearch(search_reply(documents), search_reply([]), search_reply([]))

    def search(request):
        body = json.loads(request.body)
        if f"/{KEY}/" in request.url:
            return 200, HEADERS, json.dumps(search_reply([]))
        start, size = body.get("from", 0), body["size"]
        page = documents[start:start + size]
        if body.get("_source") is False:
            page = [{"_id": hit["_id"]} for hit in page]
        return 200, HEADERS, json.dumps(search_reply(page, total=len(documents)))

    responses.add_callback(responses.POST, f"{HOST}/{KEY}/_search", callback=search, content_type="application/json")
    responses.add_callback(responses.POST, f"{HOST}/{INDEX}/_search", callback=search, content_type="application/json")
    monkeypatch.setattr(es, "INBOX_PIECE", 4)
    seen = es.read_seen(client, WINDOW, KEY, remediation_index=INDEX)
    assert seen.remediations == small[:2] + [ledger.unread("huge", 4000)] + small[2:]
    asked = [(json.loads(c.request.body).get("from"), json.loads(c.request.body).get("size"),
              json.loads(c.request.body).get("_source")) for c in responses.calls if f"/{INDEX}/" in c.request.url]
    fields = list(ledger.REMEDIATION_FIELDS)
    # 4 is too long, 2 fit, the next 2 are too long, and so is the huge one alone: its id alone; then on
    # from there, one at a time until pieces fit three times in a row, to the total.
    assert asked == [(0, 4, fields), (0, 2, fields), (2, 2, fields), (2, 1, fields), (2, 1, False), (3, 1, fields)]
    assert "reading them in pieces" in caplog.text
    assert "document 'huge' of 'pp-merchantai-remediations' is larger than 4000 bytes: recorded by its id only" \
        in caplog.text
    (record,) = [r for r in remediations.reconcile(seen.remediations, [], 498_700, 498_600, 498_800)[2]
                 if r["remediation_id"] == "huge"]
    assert record["malformed"] == "larger than the 4000 bytes a run reads of one answer"


@responses.activate
def test_a_client_without_a_cap_reads_any_answer_and_one_with_reads_up_to_it():
    long = search_reply([{"_id": "a", "_source": {"note": "n" * 10_000}}])
    responses.add(responses.POST, f"{HOST}/x/_search", json=long, headers=HEADERS)
    assert es.connect(HOST).search(index="x").body == long
    size = len(json.dumps(long))
    assert es.connect(HOST, max_answer_bytes=size).search(index="x").body == long
    with pytest.raises(es.AnswerTooLarge, match=f"an answer longer than {size - 1} bytes"):
        es.connect(HOST, max_answer_bytes=size - 1).search(index="x")
    # Not a connection failure: the node is not marked dead, the next request goes out.
    client = es.connect(HOST, max_answer_bytes=size - 1)
    for _ in range(3):
        with pytest.raises(es.AnswerTooLarge):
            client.search(index="x")
    assert len(responses.calls) == 6


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


@responses.activate
def test_the_benchs_records_too_many_for_one_answer_are_read_in_halving_pages(monkeypatch):
    monkeypatch.setattr(es, "INITIAL_BACKOFF_S", 0)
    monkeypatch.setattr(es, "RECORDS_PAGE", 32)
    acting = [record_hit(f"r{i:02d}", action="rollback_release") for i in range(40)]
    msearch(search_reply(acting), search_reply([]))  # no AI index: only the bench's, too long together

    def search(request):
        body = json.loads(request.body)
        found = acting if body["query"] == ACTING else []
        after = [hit for hit in found if "search_after" not in body or hit["sort"] > body["search_after"]]
        return 200, HEADERS, json.dumps(search_reply(after[:body["size"]], total=len(found)))

    responses.add_callback(responses.POST, f"{HOST}/{KEY}/_search", callback=search, content_type="application/json")
    seen = es.read_seen(es.connect(HOST, max_answer_bytes=4000), WINDOW, KEY)
    assert [r["incident_id"] for r in seen.records] == [f"r{i:02d}" for i in range(40)]
    asked = [json.loads(c.request.body)["size"] for c in responses.calls[1:]
             if json.loads(c.request.body)["query"] == ACTING]
    # 32 records are too long for 4,000 bytes; 16 fit, twice, and the last 8.
    assert asked == [32, 16, 16, 16]
