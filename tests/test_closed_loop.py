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
SEARCH = f"{HOST}/pp-merchantai-remediations/_search"


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setenv("ELASTICSEARCH_HOST", HOST)
    monkeypatch.setenv("ELASTICSEARCH_API_KEY", "a2V5OnNlY3JldA==")
    monkeypatch.setenv("REMEDIATION", "on")
    monkeypatch.setattr(es, "INITIAL_BACKOFF_S", 0)


def requests_made():
    return [(c.request.method, urlsplit(c.request.path_url).path) for c in responses.calls]


def add_cluster(rsps, hits=()):
    for name in ("pp-merchantai", "pp-merchantai-incidents", "pp-merchantai-events"):
        rsps.add(responses.PUT, f"{HOST}/_index_template/{name}", json={"acknowledged": True}, headers=HEADERS)
    body = {"hits": {"total": {"value": len(hits), "relation": "eq"}}}
    if hits:
        body["hits"]["hits"] = list(hits)
    rsps.add(responses.POST, SEARCH, json=body, headers=HEADERS)

    def bulk(request):
        actions = [json.loads(line) for line in request.body.splitlines()][::2]
        items = [{"index": {"_id": a["index"]["_id"], "status": 201}} for a in actions]
        return 200, HEADERS, json.dumps({"errors": False, "items": items})

    rsps.add_callback(responses.PUT, f"{HOST}/_bulk", callback=bulk, content_type="application/json")


@responses.activate
def test_warm_run_is_one_search_and_the_bulk_and_cold_adds_the_templates(env):
    add_cluster(responses)
    data_generator.lambda_handler(HOUR, None)
    # The remediations are read before generating; the indexer puts the templates before its first _bulk.
    assert requests_made() == [
        ("POST", "/pp-merchantai-remediations/_search"),
        ("PUT", "/_index_template/pp-merchantai"),
        ("PUT", "/_index_template/pp-merchantai-incidents"),
        ("PUT", "/_index_template/pp-merchantai-events"),
        ("PUT", "/_bulk"),
    ]
    # No incident in steady: the hour and the one before (whose remediations are new to this run).
    search = json.loads(responses.calls[0].request.body)
    assert search["query"] == {"range": {"timestamp": {"gte": "2026-11-27T07:00:00Z", "lt": "2026-11-27T09:00:00Z"}}}

    responses.calls.reset()
    data_generator.lambda_handler(HOUR, None)
    assert requests_made() == [("POST", "/pp-merchantai-remediations/_search"), ("PUT", "/_bulk")]


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
    responses.add(responses.POST, f"{HOST}/agent-actions/_search", headers=HEADERS,
                  json={"hits": {"total": {"value": 0, "relation": "eq"}}})
    data_generator.lambda_handler(HOUR, None)
    assert ("POST", "/agent-actions/_search") in requests_made()
    assert ("POST", "/pp-merchantai-remediations/_search") not in requests_made()


@responses.activate
def test_a_malformed_remediation_is_logged_with_its_id_and_the_run_goes_on(env, caplog):
    add_cluster(responses, hits=[
        {"_id": "typo-1", "_source": {"merchant": "merchant_003", "action": "rollback_release",
                                      "timestamp": "2026-11-27T07:00:00Z"}},
    ])
    with caplog.at_level(logging.WARNING, logger="pp_merchantai"):
        summary = data_generator.lambda_handler(HOUR, None)
    assert summary["status"] == "ok" and summary["indexed"] == 20
    assert "remediation typo-1 skipped: unknown fields: merchant" in caplog.text


@responses.activate
def test_a_dry_run_reads_remediations_without_putting_a_template(env):
    add_cluster(responses)
    summary = data_generator.lambda_handler({"dry_run": True, "time": "2026-11-27T08:00:00Z"}, None)
    assert summary["dry_run"] is True
    assert requests_made() == [("POST", "/pp-merchantai-remediations/_search")]


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
        ("POST", "/pp-merchantai-remediations/_search"), ("PUT", "/_bulk")]
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
