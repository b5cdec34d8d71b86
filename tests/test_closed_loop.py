"""REMEDIATION=on in the handler and the CLI: request budget, a missing index, malformed documents."""

from __future__ import annotations

import json
import logging
from urllib.parse import urlsplit

import pytest
import responses

import data_generator
import es

HOST = "https://example.es.io:443"
HEADERS = {"X-Elastic-Product": "Elasticsearch"}
HOUR = {"time": "2026-11-27T08:00:00Z"}
MSEARCH = f"{HOST}/_msearch"


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setenv("ELASTICSEARCH_HOST", HOST)
    monkeypatch.setenv("ELASTICSEARCH_API_KEY", "a2V5OnNlY3JldA==")
    monkeypatch.setenv("REMEDIATION", "on")
    monkeypatch.setattr(es, "INITIAL_BACKOFF_S", 0)


def requests_made():
    return [(c.request.method, urlsplit(c.request.path_url).path) for c in responses.calls]


def searched(request) -> list:
    """The (header, body) pairs of an _msearch request."""
    lines = [json.loads(line) for line in request.body.decode().splitlines()]
    return list(zip(lines[::2], lines[1::2]))


def add_cluster(rsps, hits=()):
    for name in ("pp-merchantai", "pp-merchantai-incidents", "pp-merchantai-events"):
        rsps.add(responses.PUT, f"{HOST}/_index_template/{name}", json={"acknowledged": True}, headers=HEADERS)

    def msearch(request):
        # The AI's remediations hold hits; the bench's records (the last search) none yet.
        answers = []
        for header, _ in searched(request):
            found = list(hits) if header["index"] == "pp-merchantai-remediations" else []
            answer = {"hits": {"total": {"value": len(found), "relation": "eq"}}, "status": 200}
            if found:
                answer["hits"]["hits"] = found
            answers.append(answer)
        return 200, HEADERS, json.dumps({"responses": answers})

    rsps.add_callback(responses.POST, MSEARCH, callback=msearch, content_type="application/json")

    def bulk(request):
        actions = [json.loads(line) for line in request.body.splitlines()][::2]
        items = [{op: {"_id": meta["_id"], "status": 201}} for a in actions for op, meta in a.items()]
        return 200, HEADERS, json.dumps({"errors": False, "items": items})

    rsps.add_callback(responses.PUT, f"{HOST}/_bulk", callback=bulk, content_type="application/json")


@responses.activate
def test_warm_run_is_one_search_and_the_bulk_and_cold_adds_the_templates(env):
    add_cluster(responses)
    data_generator.lambda_handler(HOUR, None)
    # The remediations are read before generating; the indexer puts the templates before its first _bulk.
    assert requests_made() == [
        ("POST", "/_msearch"),
        ("PUT", "/_index_template/pp-merchantai"),
        ("PUT", "/_index_template/pp-merchantai-incidents"),
        ("PUT", "/_index_template/pp-merchantai-events"),
        ("PUT", "/_bulk"),
    ]
    (inbox, inbox_body), (acting, acting_body), (mine, mine_body), (data, data_body) = searched(
        responses.calls[0].request)
    # The AI's documents claiming the 24 hours before the hour before this one, up to its end; only
    # the fields the bench reads, a bounded page.
    assert (inbox, acting, mine) == ({"index": "pp-merchantai-remediations", "ignore_unavailable": True},
                                     {"index": "pp-merchantai-incidents", "ignore_unavailable": True},
                                     {"index": "pp-merchantai-incidents", "ignore_unavailable": True})
    assert inbox_body == {"query": {"range": {"timestamp": {"gte": "2026-11-26T07:00:00Z", "lt": "2026-11-27T09:00:00Z"}}},
                          "size": 2000, "_source": ["merchant_id", "payment_provider", "action", "timestamp",
                                                    "incident_id"], "track_total_hits": True}
    # The bench's records: those that act since a side effect could still run (no incident in steady:
    # 12 hours before the hour before), and those that stand for those documents or count in their hours.
    assert acting_body["query"]["bool"]["filter"][1] == {
        "range": {"timestamp": {"gte": "2026-11-26T19:00:00Z", "lt": "2026-11-27T09:00:00Z"}}}
    assert mine_body["query"]["bool"]["should"] == [
        {"range": {"timestamp": {"gte": "2026-11-26T07:00:00Z", "lt": "2026-11-27T09:00:00Z"}}},
        {"range": {"claimed_at": {"gte": "2026-11-26T07:00:00Z", "lt": "2026-11-27T09:00:00Z"}}}]
    # Without the findings' recorded copies: the run needs none of them.
    assert acting_body["_source"] == mine_body["_source"] == {"excludes": ["finding"]}
    # And the last hour the data index holds: what is new to a re-run acts after it.
    assert (data, data_body) == ({"index": "pp-merchantai", "ignore_unavailable": True},
                                 {"size": 1, "sort": [{"timestamp": "desc"}], "_source": ["timestamp"]})

    responses.calls.reset()
    data_generator.lambda_handler(HOUR, None)
    assert requests_made() == [("POST", "/_msearch"), ("PUT", "/_bulk")]


@responses.activate
def test_off_reads_no_remediations(env, monkeypatch):
    monkeypatch.setenv("REMEDIATION", "off")
    add_cluster(responses)
    data_generator.lambda_handler(HOUR, None)
    responses.calls.reset()
    data_generator.lambda_handler(HOUR, None)
    assert requests_made() == [("PUT", "/_bulk")]


@responses.activate
def test_remediation_index_override_is_searched(env, monkeypatch):
    monkeypatch.setenv("REMEDIATION_INDEX", "agent-actions")
    add_cluster(responses)
    data_generator.lambda_handler(HOUR, None)
    assert [header["index"] for header, _ in searched(responses.calls[0].request)] == [
        "agent-actions", "pp-merchantai-incidents", "pp-merchantai-incidents", "pp-merchantai"]


@responses.activate
def test_a_malformed_remediation_is_logged_with_its_id_and_the_run_goes_on(env, caplog):
    # The search asks only for the fields the bench reads: a misspelt target is no target.
    add_cluster(responses, hits=[
        {"_id": "typo-1", "_source": {"action": "rollback_release", "timestamp": "2026-11-27T07:00:00Z"}},
    ])
    with caplog.at_level(logging.WARNING, logger="pp_merchantai"):
        summary = data_generator.lambda_handler(HOUR, None)
    assert summary["status"] == "ok" and summary["indexed"] == 20
    assert ("remediation typo-1 skipped: exactly one of merchant_id or payment_provider is required"
            in caplog.text)


@responses.activate
def test_a_dry_run_reads_remediations_without_putting_a_template(env):
    add_cluster(responses)
    summary = data_generator.lambda_handler({"dry_run": True, "time": "2026-11-27T08:00:00Z"}, None)
    assert summary["dry_run"] is True
    assert requests_made() == [("POST", "/_msearch")]


def test_on_without_a_cluster_is_refused_before_anything_runs(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("REMEDIATION", "on")
    with pytest.raises(data_generator.ConfigError, match="REMEDIATION=on reads the remediations from Elasticsearch: "
                                                         "set ELASTICSEARCH_HOST"):
        data_generator.lambda_handler({"dry_run": True}, None)
    output = tmp_path / "out.ndjson"
    assert data_generator.main(["--output", str(output)]) == 2
    assert not output.exists()
    assert "error: REMEDIATION=on reads the remediations" in capsys.readouterr().err


def test_the_cli_flag_overrides_the_environment(monkeypatch, capsys):
    monkeypatch.setenv("REMEDIATION", "on")
    assert data_generator.main(["--remediation", "off", "--output", "-"]) == 0
    assert capsys.readouterr().out.count('{"index":{"_index":"pp-merchantai","_id":') == 20
    assert data_generator.main(["--remediation", "sometimes", "--output", "-"]) == 2
    assert "error: --remediation must be one of off, on, got 'sometimes'" in capsys.readouterr().err
    assert data_generator.main(["--remediation", "on", "--invoke", "fn", "--dry-run"]) == 2
    assert ("error: --remediation cannot be used with --invoke: the function uses its own configuration"
            in capsys.readouterr().err)


def test_on_the_engine_a_missing_index_means_no_remediations(cluster, monkeypatch):
    monkeypatch.setenv("ELASTICSEARCH_HOST", cluster.url)
    monkeypatch.setenv("REMEDIATION", "on")
    summary = data_generator.lambda_handler(HOUR, None)
    assert (summary["status"], summary["indexed"]) == ("ok", 20)
    before = len(cluster.proxy.requests)
    data_generator.lambda_handler({"time": "2026-11-27T07:00:00Z"}, None)
    assert [(r.method, r.path.split("?")[0]) for r in cluster.proxy.requests[before:]] == [
        ("POST", "/_msearch"), ("PUT", "/_bulk")]
    assert cluster.count() == 40


@pytest.mark.parametrize(("args", "message"), [
    (["--at", "2999-01-01T00:00:00Z"], "refusing hours after the current one"),
    (["--at", "yesterday"], "--at is not an ISO 8601 time"),
    (["--action", "reboot-the-world"], "--action must be one of"),
])
@responses.activate
def test_remediate_refuses_a_future_hour_or_an_unknown_action_before_writing(env, args, message):
    import io

    from grader import cli as evaluate

    options = {"--merchant": "merchant_001", "--action": "rollback_release", "--at": "2026-11-27T08:00:00Z"}
    options.update(zip(args[::2], args[1::2]))
    err = io.StringIO()
    argv = ["remediate"] + [word for pair in options.items() for word in pair]
    assert evaluate.main(argv, err=err, out=io.StringIO()) == 2
    assert message in err.getvalue()
    assert requests_made() == []
