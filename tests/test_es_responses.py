"""Client tests with exact HTTP shapes, intercepted with responses (no server)."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from urllib.parse import urlsplit

import pytest
import responses

import data_generator
import es
import events
import generator
import incidents
from config import Config

HOST = "https://example.es.io:443"
HEADERS = {"X-Elastic-Product": "Elasticsearch"}
HOUR = {"time": "2026-11-27T08:00:00Z"}


def requests_made():
    """(method, path) of every call, query strings aside."""
    return [(c.request.method, urlsplit(c.request.path_url).path) for c in responses.calls]


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setenv("ELASTICSEARCH_HOST", HOST)
    monkeypatch.setenv("ELASTICSEARCH_API_KEY", "a2V5OnNlY3JldA==")
    monkeypatch.setattr(es, "INITIAL_BACKOFF_S", 0)


def bulk_lines(request):
    lines = request.body.decode().splitlines() if isinstance(request.body, bytes) else request.body.splitlines()
    return [json.loads(line) for line in lines]


def items_of(request, status_for):
    actions = bulk_lines(request)[::2]
    items = []
    for action in actions:
        _id = action["index"]["_id"]
        status = status_for(_id)
        item = {"_index": "pp-merchantai", "_id": _id, "status": status}
        if status == 400:
            item["error"] = {"type": "mapper_parsing_exception", "reason": "failed to parse field [sessions]"}
        elif status == 429:
            item["error"] = {"type": "es_rejected_execution_exception", "reason": "rejected execution"}
        items.append({"index": item})
    return {"took": 1, "errors": any(i["index"]["status"] >= 300 for i in items), "items": items}


def add_template(rsps, status=200):
    """The templates of the data index, the answer key and the change events."""
    for name in ("pp-merchantai", "pp-merchantai-incidents", "pp-merchantai-events"):
        rsps.add(responses.PUT, f"{HOST}/_index_template/{name}", json={"acknowledged": True},
                 status=status, headers=HEADERS)


# The default roster's chronic profiles: 9 answer-key records open the hour's _bulk.
RECORDS = 9
# The change events of that hour, written between the answer-key records and the documents.
EVENTS = len(events.ChangeLog(incidents.schedule(Config()), generator.roster(1729, 20)).at(
    generator.hour_index(datetime(2026, 11, 27, 8, tzinfo=timezone.utc))))


def add_bulk(rsps, status_for=lambda _id: 201):
    def callback(request):
        return 200, HEADERS, json.dumps(items_of(request, status_for))

    rsps.add_callback(responses.PUT, f"{HOST}/_bulk", callback=callback, content_type="application/json")


@responses.activate
def test_cold_start_puts_the_template_then_one_bulk_and_warm_only_bulks(env):
    add_template(responses)
    add_bulk(responses)
    summary = data_generator.lambda_handler(HOUR, None)
    assert requests_made() == [("PUT", "/_index_template/pp-merchantai"),
                               ("PUT", "/_index_template/pp-merchantai-incidents"),
                               ("PUT", "/_index_template/pp-merchantai-events"), ("PUT", "/_bulk")]
    # Only what failure handling reads comes back: every item's _id, status and error.
    assert responses.calls[3].request.params == {"filter_path": "items.*._id,items.*.status,items.*.error"}
    template = json.loads(responses.calls[0].request.body)
    assert template["index_patterns"] == ["pp-merchantai"]
    assert template["template"]["mappings"]["properties"]["location"] == {"type": "geo_point"}
    assert "issues" not in template["template"]["mappings"]["properties"]
    answer_key = json.loads(responses.calls[1].request.body)
    assert answer_key["index_patterns"] == ["pp-merchantai-incidents"]
    assert answer_key["template"]["mappings"]["dynamic"] == "strict"
    assert answer_key["template"]["mappings"]["properties"]["incident_id"] == {"type": "keyword"}
    changes = json.loads(responses.calls[2].request.body)
    assert changes["index_patterns"] == ["pp-merchantai-events"]
    assert changes["template"]["mappings"] == es.EVENTS_MAPPINGS
    assert responses.calls[3].request.headers["Authorization"] == "ApiKey a2V5OnNlY3JldA=="
    assert {k: summary[k] for k in ("status", "documents", "indexed", "failed")} == {
        "status": "ok", "documents": 20, "indexed": 20, "failed": 0}

    responses.calls.reset()
    data_generator.lambda_handler(HOUR, None)
    assert requests_made() == [("PUT", "/_bulk")]


@responses.activate
def test_bulk_body_is_the_generated_ndjson_with_deterministic_ids(env):
    add_template(responses)
    add_bulk(responses)
    data_generator.lambda_handler(HOUR, None)
    lines = bulk_lines(responses.calls[3].request)
    assert lines[0] == {"index": {"_index": "pp-merchantai-incidents", "_id": "missing_location-merchant_003"}}
    assert lines[1]["incident_id"] == "missing_location-merchant_003" and lines[1]["onset"] is None
    assert EVENTS >= 1
    assert all(line["index"]["_index"] == "pp-merchantai-events" for line in lines[2 * RECORDS:2 * (RECORDS + EVENTS):2])
    first = 2 * (RECORDS + EVENTS)
    assert lines[first] == {"index": {"_index": "pp-merchantai", "_id": "merchant_001-2026112708"}}
    assert lines[first + 1]["merchant_id"] == "merchant_001" and lines[first + 1]["timestamp"] == "2026-11-27T08:00:00Z"
    assert len(lines) == 2 * (RECORDS + EVENTS + 20)


@responses.activate
def test_partial_429_items_are_retried_until_indexed(env):
    add_template(responses)
    rejected = {"merchant_003-2026112708": 2, "merchant_017-2026112708": 1}

    def status_for(_id):
        if rejected.get(_id):
            rejected[_id] -= 1
            return 429
        return 201

    add_bulk(responses, status_for)
    summary = data_generator.lambda_handler(HOUR, None)
    bulks = [c for c in responses.calls if urlsplit(c.request.path_url).path == "/_bulk"]
    assert [len(bulk_lines(c.request)) // 2 for c in bulks] == [RECORDS + EVENTS + 20, 2, 1]  # only the rejected again
    assert (summary["indexed"], summary["failed"], summary["status"]) == (20, 0, "ok")


@responses.activate
def test_whole_request_503_is_retried_with_backoff(env):
    add_template(responses)
    responses.add(responses.PUT, f"{HOST}/_bulk", json={"error": "unavailable"}, status=503, headers=HEADERS)
    add_bulk(responses)
    summary = data_generator.lambda_handler(HOUR, None)
    assert [c.response.status_code for c in responses.calls[3:]] == [503, 200]
    assert summary["indexed"] == 20


@responses.activate
def test_mapping_errors_are_counted_not_retried_and_raised_once(env, caplog):
    add_template(responses)
    add_bulk(responses, lambda _id: 400 if _id.startswith(("merchant_004", "merchant_009")) else 201)
    with pytest.raises(es.BulkError) as excinfo:
        data_generator.lambda_handler(HOUR, None)
    assert str(excinfo.value) == (
        "2 of 20 documents failed to index: "
        "merchant_004-2026112708: HTTP 400 mapper_parsing_exception: failed to parse field [sessions]; "
        "merchant_009-2026112708: HTTP 400 mapper_parsing_exception: failed to parse field [sessions]"
    )
    assert len([c for c in responses.calls if urlsplit(c.request.path_url).path == "/_bulk"]) == 1
    summary = json.loads(next(r.getMessage() for r in caplog.records if r.getMessage().startswith("{")))
    assert (summary["status"], summary["indexed"], summary["failed"]) == ("error", 18, 2)


@responses.activate
def test_a_rejected_answer_key_record_fails_the_run_but_is_not_counted_as_a_document(env, caplog):
    add_template(responses)
    add_bulk(responses, lambda _id: 400 if _id == "low_conversion-merchant_009" else 201)
    with pytest.raises(es.BulkError) as excinfo:
        data_generator.lambda_handler(HOUR, None)
    assert "low_conversion-merchant_009: HTTP 400" in str(excinfo.value)
    summary = json.loads(next(r.getMessage() for r in caplog.records if r.getMessage().startswith("{")))
    assert (summary["status"], summary["documents"], summary["indexed"], summary["failed"]) == ("error", 20, 20, 1)
    assert "answer_key_records" not in summary
    [bulk] = [call for call in responses.calls if "_bulk" in call.request.url]
    assert len(bulk_lines(bulk.request)) == 2 * (RECORDS + EVENTS + 20)  # records and events sent, not counted


@responses.activate
@pytest.mark.parametrize("status", [401, 403])
def test_bad_credentials_fail_at_once_with_one_request(env, status):
    add_template(responses, status=status)
    with pytest.raises(es.CredentialsError) as excinfo:
        data_generator.lambda_handler(HOUR, None)
    assert len(responses.calls) == 1
    message = str(excinfo.value)
    assert f"HTTP {status}" in message and "ELASTICSEARCH_API_KEY" in message
    assert "a2V5OnNlY3JldA==" not in message


@responses.activate
def test_a_failed_template_is_tried_again_on_the_next_invocation(env):
    add_template(responses, status=401)
    with pytest.raises(es.CredentialsError):
        data_generator.lambda_handler(HOUR, None)
    for name in ("pp-merchantai", "pp-merchantai-incidents", "pp-merchantai-events"):
        responses.replace(responses.PUT, f"{HOST}/_index_template/{name}", json={"acknowledged": True},
                          headers=HEADERS)
    add_bulk(responses)
    assert data_generator.lambda_handler(HOUR, None)["indexed"] == 20
    assert [path for _, path in requests_made()] == [
        "/_index_template/pp-merchantai", "/_index_template/pp-merchantai",
        "/_index_template/pp-merchantai-incidents", "/_index_template/pp-merchantai-events", "/_bulk"]


@responses.activate
def test_a_server_that_is_not_elasticsearch_is_named(env):
    responses.add(responses.PUT, f"{HOST}/_index_template/pp-merchantai", json={"ok": True})
    with pytest.raises(es.IndexingError, match="ELASTICSEARCH_HOST does not answer as Elasticsearch"):
        data_generator.lambda_handler(HOUR, None)


@responses.activate
def test_basic_auth_is_sent_when_a_password_is_set(env, monkeypatch):
    monkeypatch.delenv("ELASTICSEARCH_API_KEY")
    monkeypatch.setenv("ELASTICSEARCH_USERNAME", "elastic")
    monkeypatch.setenv("ELASTICSEARCH_PASSWORD", "changeme")
    add_template(responses)
    add_bulk(responses)
    data_generator.lambda_handler(HOUR, None)
    assert responses.calls[0].request.headers["Authorization"] == "Basic ZWxhc3RpYzpjaGFuZ2VtZQ=="


@responses.activate
def test_dry_run_sends_nothing(env):
    summary = data_generator.lambda_handler({"dry_run": True}, None)
    assert len(responses.calls) == 0
    assert (summary["dry_run"], summary["documents"], summary["indexed"]) == (True, 20, 0)


# --- reading an index (evaluate.py): a scroll ------------------------------------------


def hit(n):
    return {"_id": f"d{n}", "_source": {"merchant_id": f"merchant_{n:03d}", "timestamp": "2026-11-27T08:00:00Z"}}


def add_scroll_pages(rsps, pages, first_status=200):
    """The opening search answers pages[0] (after a first_status failure), each scroll the next page."""
    if first_status != 200:
        rsps.add(responses.POST, f"{HOST}/pp-merchantai/_search", json={"error": "busy"}, status=first_status,
                 headers=HEADERS)
    rsps.add(responses.POST, f"{HOST}/pp-merchantai/_search",
             json={"_scroll_id": "s1", "hits": {"hits": pages[0]}}, headers=HEADERS)
    for page in pages[1:]:
        rsps.add(responses.POST, f"{HOST}/_search/scroll", json={"_scroll_id": "s1", "hits": {"hits": page}},
                 headers=HEADERS)
    rsps.add(responses.DELETE, f"{HOST}/_search/scroll", json={"succeeded": True}, headers=HEADERS)


@responses.activate
def test_reading_observations_scrolls_every_page_in_order_and_clears_the_scroll(monkeypatch):
    from datetime import datetime, timezone

    monkeypatch.setattr(es, "INITIAL_BACKOFF_S", 0)
    add_scroll_pages(responses, [[hit(1), hit(2)], [hit(3)], []], first_status=503)
    client = es.connect(HOST, api_key="a2V5OnNlY3JldA==")
    docs = es.read_observations(client, "pp-merchantai", datetime(2026, 11, 27, tzinfo=timezone.utc),
                                datetime(2026, 11, 28, tzinfo=timezone.utc), ["merchant_id", "timestamp"])
    assert [d["merchant_id"] for d in docs] == ["merchant_001", "merchant_002", "merchant_003"]
    assert requests_made() == [("POST", "/pp-merchantai/_search")] * 2 + [("POST", "/_search/scroll")] * 2 + [
        ("DELETE", "/_search/scroll")]
    search = responses.calls[1].request
    assert search.params == {"scroll": "2m"}
    assert json.loads(search.body) == {
        "query": {"range": {"timestamp": {"gte": "2026-11-27T00:00:00Z", "lt": "2026-11-28T00:00:00Z"}}},
        "sort": [{"timestamp": "asc"}, {"merchant_id": "asc"}], "size": 5000,
        "_source": ["merchant_id", "timestamp"]}
    assert json.loads(responses.calls[2].request.body) == {"scroll_id": "s1", "scroll": "2m"}
    assert json.loads(responses.calls[4].request.body) == {"scroll_id": "s1"}


@responses.activate
def test_a_page_failing_mid_scroll_is_not_retried_and_the_scroll_is_cleared():
    add_scroll_pages(responses, [[hit(1)]])
    responses.add(responses.POST, f"{HOST}/_search/scroll", json={"error": "gone"}, status=404, headers=HEADERS)
    client = es.connect(HOST)
    with pytest.raises(es.IndexingError, match="failed mid-way \\(run it again\\): HTTP 404"):
        list(es.read_documents(client, "pp-merchantai", {"match_all": {}}, ["_doc"]))
    assert requests_made()[-2:] == [("POST", "/_search/scroll"), ("DELETE", "/_search/scroll")]


@responses.activate
def test_reading_without_privileges_names_the_read_privilege():
    responses.add(responses.POST, f"{HOST}/findings/_search", json={"error": "forbidden"}, status=403,
                  headers=HEADERS)
    with pytest.raises(es.CredentialsError, match="it needs read on findings"):
        list(es.read_documents(es.connect(HOST), "findings", {"match_all": {}}, ["_doc"]))
    assert len(responses.calls) == 1


# A scroll's pages without the shape the reads rely on (issue 19): (the page, what was wrong).
BROKEN_PAGES = {
    "not-an-object": (["d1"], "not a JSON object but list"),
    "no-hits": ({"_scroll_id": "s1"}, "no hits object"),
    "hits-not-a-list": ({"_scroll_id": "s1", "hits": {"hits": {"_id": "d1"}}}, "hits.hits is not a list"),
    "hit-without-id": ({"_scroll_id": "s1", "hits": {"hits": [{"_source": {}}]}}, "hit 0 has no string _id"),
    "id-not-a-string": ({"_scroll_id": "s1", "hits": {"hits": [{"_id": 7, "_source": {}}]}}, "hit 0 has no string _id"),
    "hit-without-source": ({"_scroll_id": "s1", "hits": {"hits": [{"_id": "d1"}]}}, "hit 0 (d1) has no _source object"),
    "no-scroll-id": ({"hits": {"hits": [hit(1)]}}, "no _scroll_id to go on from"),
}


@pytest.mark.parametrize("name", BROKEN_PAGES)
@responses.activate
def test_an_opening_page_without_the_shape_relied_on_is_retried_then_fails_named(monkeypatch, caplog, name):
    monkeypatch.setattr(es, "INITIAL_BACKOFF_S", 0)
    page, wrong = BROKEN_PAGES[name]
    responses.add(responses.POST, f"{HOST}/pp-merchantai/_search", json=page, headers=HEADERS)
    add_scroll_pages(responses, [[hit(1)], []])
    client = es.connect(HOST)
    assert [d["merchant_id"] for d in es.read_records(client, "pp-merchantai", {"match_all": {}})] == ["merchant_001"]
    assert f"reading index 'pp-merchantai' failed (malformed search answer: {wrong}" in caplog.text
    responses.reset()
    responses.add(responses.POST, f"{HOST}/pp-merchantai/_search", json=page, headers=HEADERS)
    with pytest.raises(es.OutOfTime, match=re.escape(f"malformed search answer: {wrong}")):
        list(es.read_documents(client, "pp-merchantai", {"match_all": {}}, ["_doc"],
                               retrier=es.Retrier(patience=es.REQUEST_TIMEOUT_S + 1)))


@pytest.mark.parametrize("name", [name for name in BROKEN_PAGES if name != "not-an-object"])
@responses.activate
def test_a_later_page_without_the_shape_relied_on_fails_mid_way_named_and_the_scroll_is_cleared(name):
    page, wrong = BROKEN_PAGES[name]
    add_scroll_pages(responses, [[hit(1)]])
    responses.add(responses.POST, f"{HOST}/_search/scroll", json=page, headers=HEADERS)
    wrong = re.escape(f"failed mid-way (run it again): malformed search answer: {wrong}")
    with pytest.raises(es.IndexingError, match=wrong):
        list(es.read_documents(es.connect(HOST), "pp-merchantai", {"match_all": {}}, ["_doc"]))
    assert requests_made()[-2:] == [("POST", "/_search/scroll"), ("DELETE", "/_search/scroll")]
