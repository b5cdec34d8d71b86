"""The answer key on the real engine (osmem-server behind the shim): beside the data, never in it."""

from __future__ import annotations

import json

import pytest

import data_generator
import es
import incidents
from config import Config, HourRange, parse_time

RANGE = {"start": "2026-11-02T00:00:00Z", "end": "2026-11-05T00:00:00Z"}
TRUTH = {"issues", "is_problematic", "incident_ids"}


@pytest.fixture
def host(cluster, monkeypatch):
    monkeypatch.setenv("ELASTICSEARCH_HOST", cluster.url)
    monkeypatch.setenv("SCENARIO", "incidents")
    return cluster


def hour_range(event=RANGE):
    return HourRange(parse_time(event["start"], "start"), parse_time(event["end"], "end"))


def test_the_answer_key_in_the_engine_equals_incidents_output(host, capsys):
    summary = data_generator.lambda_handler(RANGE, None)
    expected = incidents.answer_key(Config(scenario="incidents"), hour_range())[0]
    assert summary["scenario"] == "incidents"
    assert "answer_key_records" not in summary and len(expected) > 9
    held = host.documents("pp-merchantai-incidents")
    assert held == {record["incident_id"]: record for record in expected}

    assert data_generator.main(["--incidents", "--start", RANGE["start"], "--end", RANGE["end"]]) == 0
    rows = capsys.readouterr().out.splitlines()[2:]
    assert [row.split()[0] for row in rows] == [record["kind"] for record in expected]
    for row, record in zip(rows, expected):
        onset = record["onset"][:16].replace("T", " ") if record["onset"] else "chronic"
        assert onset in row and record["root_cause"]["component"] in row


def test_separate_leaves_no_truth_in_the_data_index_its_mapping_or_its_documents(host):
    data_generator.lambda_handler(RANGE, None)
    mapping = host.get("/pp-merchantai/_mapping")["pp-merchantai"]["mappings"]
    assert mapping["dynamic"] == "strict"
    assert not TRUTH & set(mapping["properties"])
    documents = host.documents()
    assert len(documents) == 72 * 20
    assert not any(TRUTH & set(doc) for doc in documents.values())
    # The key has its own strict mapping, from its own template.
    key_mapping = host.get("/pp-merchantai-incidents/_mapping")["pp-merchantai-incidents"]["mappings"]
    assert key_mapping["dynamic"] == "strict"
    assert set(key_mapping["properties"]) == set(es.ANSWER_KEY_MAPPINGS["properties"])
    template = host.get("/_index_template/pp-merchantai-incidents")["index_templates"][0]["index_template"]
    assert template["index_patterns"] == ["pp-merchantai-incidents"]


def test_inline_puts_the_truth_in_the_documents_and_the_mapping(host, monkeypatch):
    monkeypatch.setenv("GROUND_TRUTH", "inline")
    data_generator.lambda_handler(RANGE, None)
    properties = host.get("/pp-merchantai/_mapping")["pp-merchantai"]["mappings"]["properties"]
    assert {name: properties[name]["type"] for name in TRUTH} == {
        "issues": "keyword", "is_problematic": "boolean", "incident_ids": "keyword"}
    documents = host.documents()
    assert all(TRUTH <= set(doc) for doc in documents.values())
    # Every acute incident of the key shows in the documents that carry its id.
    ids = {i for doc in documents.values() for i in doc["incident_ids"]}
    assert {r["incident_id"] for r in host.documents("pp-merchantai-incidents").values()} <= ids


def test_cold_run_makes_three_requests_and_warm_one_and_reruns_never_duplicate(host):
    data_generator.lambda_handler({"time": "2026-11-03T10:00:00Z"}, None)
    cold = [(r.method, r.path.split("?")[0]) for r in host.proxy.requests]
    assert cold == [("PUT", "/_index_template/pp-merchantai"), ("PUT", "/_index_template/pp-merchantai-incidents"),
                    ("PUT", "/_bulk")]
    before = len(host.proxy.requests)
    data_generator.lambda_handler({"time": "2026-11-03T11:00:00Z"}, None)
    assert [(r.method, r.path.split("?")[0]) for r in host.proxy.requests[before:]] == [("PUT", "/_bulk")]
    records = host.count("pp-merchantai-incidents")
    data_generator.lambda_handler({"time": "2026-11-03T11:00:00Z"}, None)
    assert host.count("pp-merchantai-incidents") == records
    assert host.count() == 40


def test_answer_key_index_override(host, monkeypatch):
    monkeypatch.setenv("ANSWER_KEY_INDEX", "truth-kept-elsewhere")
    summary = data_generator.lambda_handler({"time": "2026-11-03T10:00:00Z"}, None)
    assert summary["answer_key_index"] == "truth-kept-elsewhere"
    hour = HourRange(parse_time("2026-11-03T10:00:00Z", "time"), parse_time("2026-11-03T11:00:00Z", "end"))
    expected = incidents.answer_key(Config(scenario="incidents", answer_key_index_override="truth-kept-elsewhere"), hour)[0]
    assert host.count("truth-kept-elsewhere") == len(expected) > 0


def test_a_bad_scenario_file_fails_the_handler_before_any_request(host, monkeypatch, tmp_path):
    path = tmp_path / "broken.json"
    path.write_text(json.dumps({"incidents": [{"kind": "payment_outage", "payment_provider": "nobody",
                                               "start": "2026-11-03T10:00:00Z", "hours": 3}]}))
    monkeypatch.setenv("SCENARIO", str(path))
    with pytest.raises(data_generator.ConfigError, match=r"incidents\[0\]\.payment_provider"):
        data_generator.lambda_handler({"time": "2026-11-03T10:00:00Z"}, None)
    assert host.proxy.requests == []
