"""Change events: pure (an hour alone as in a range, causes before their incidents, red herrings
outnumbering them), beside the documents on the engine (strict template, request counts), and
an index made by the previous version taking this version's run (the upgrade)."""

from __future__ import annotations

import json
import logging
import re
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest

import catalog
import data_generator
import es
import events
import generator
import incidents
from config import Config, HourRange

HOUR = timedelta(hours=1)
T0 = datetime(2026, 10, 26, tzinfo=timezone.utc)
H0 = generator.hour_index(T0)
DAYS_30 = 30 * 24


def change_log(seed=1729, merchants=20, scenario="incidents"):
    cfg = Config(seed=seed, merchants=merchants, scenario=scenario)
    roster = generator.roster(seed, merchants)
    schedule = incidents.schedule(cfg, roster)
    return schedule, events.ChangeLog(schedule, roster)


def causes(schedule, h0, h1) -> dict:
    """{event id: incident} of the incidents with a causal event, by the answer key's records."""
    found = {}
    for incident in schedule.acute(h0 - 100, h1 + 100):
        record = incident.record("incidents", schedule.seed)
        if "causal_event_id" in record:
            found[record["causal_event_id"]] = incident
    return found


def test_every_kind_declares_its_cause():
    declared = {kind.name: (kind.cause.type, kind.cause.component) if kind.cause else None
                for kind in catalog.KINDS if kind.scope != "chronic"}
    assert declared == {
        "payment_outage": ("provider_status", "payment_provider:{provider}"),
        "gateway_timeouts": ("config_change", "payment_gateway"),
        "checkout_regression": ("deploy", "checkout"),
        "location_feed_loss": None,
        "traffic_drop": ("config_change", "storefront_dns"),
        "promo_surge": ("campaign", "marketing"),
        "maintenance_window": ("maintenance_notice", "planned_maintenance"),
    }
    for kind in catalog.KINDS:
        if kind.cause:
            assert kind.cause.type in events.EVENT_TYPES and 0 < kind.cause.probability < 1
    assert (events.MAX_LEAD_HOURS, events.MAX_LAG_HOURS) == (72, 3)


def test_causes_come_at_their_declared_lead_or_lag_with_their_probability():
    counted, caused = {}, {}
    for seed in range(40):
        schedule, log = change_log(seed)
        ids = {event.event_id: event for event in log.between(H0 - 100, H0 + 4 * 168 + 100)}
        for incident in schedule.acute(H0, H0 + 4 * 168):
            kind = incident.kind
            counted[kind.name] = counted.get(kind.name, 0) + 1
            event = events.cause(seed, incident)
            if event is None:
                continue
            caused[kind.name] = caused.get(kind.name, 0) + 1
            assert ids[event.event_id] == event  # the change log holds the very event
            lead = incident.onset * 60 - event.minute
            assert kind.cause.lead_minutes[0] <= lead <= kind.cause.lead_minutes[1], incident.incident_id
            assert (event.type, event.merchant_ids, event.provider) == (
                kind.cause.type, () if incident.provider else incident.merchant_ids, incident.provider)
            if kind.name == "checkout_regression":
                assert dict(event.details)["channel"] == incident.channel
            if kind.name == "gateway_timeouts":
                details = dict(event.details)
                assert details["setting"] == "timeout_ms" and int(details["old_value"]) > int(details["new_value"])
                assert abs(int(details["new_value"]) - incident.latency_ms) <= 50
            if kind.name in ("maintenance_window", "promo_surge"):
                assert dict(event.details)["window_start"] == generator.stamp(incident.onset)
    assert "location_feed_loss" not in caused
    for name, n in caused.items():
        share = n / counted[name]
        assert abs(share - catalog.CATALOG[name].cause.probability) < 0.12, (name, share)


def test_red_herrings_are_at_least_twice_the_causes_in_every_30_days():
    for seed in range(30):
        for merchants in (1, 2, 20, 37):
            schedule, log = change_log(seed, merchants)
            for start in (H0, H0 + 100, H0 + 24 * 45):
                found = log.between(start, start + DAYS_30)
                causal = set(causes(schedule, start, start + DAYS_30)) & {event.event_id for event in found}
                assert len(found) - len(causal) >= 2 * len(causal), (seed, merchants, start)
                assert causal or merchants < 20


def test_no_event_says_whether_it_caused_anything():
    schedule, log = change_log()
    found = log.between(H0, H0 + DAYS_30)
    causal = causes(schedule, H0, H0 + DAYS_30)
    assert causal and len(found) > 3 * len(causal)
    for event in found:
        source = event.source()
        assert set(source) <= set(es.EVENTS_MAPPINGS["properties"])
        assert set(source["details"]) <= set(es.EVENTS_MAPPINGS["properties"]["details"]["properties"])
        text = json.dumps(source)
        assert "incident" not in text and "caus" not in text and "herring" not in text
    # Causes and red herrings of one type and component look alike: the same keys.
    shapes = {}
    for event in found:
        shapes.setdefault((event.type, event.component.split(":")[0], event.event_id in causal), set()).add(
            tuple(dict(event.details)))
    for (kind, component, is_cause), keys in shapes.items():
        if is_cause and (kind, component, False) in shapes:
            assert keys == shapes[kind, component, False], (kind, component)


def test_an_hour_alone_writes_the_events_it_writes_inside_a_range():
    """Even a maintenance notice three days before its window, or a status page after the onset."""
    schedule, log = change_log()
    notices = [event for event in log.between(H0, H0 + 4 * 168) if event.event_id in causes(schedule, H0, H0 + 4 * 168)]
    assert {event.type for event in notices} >= {"maintenance_notice", "provider_status", "deploy"}
    cfg = Config(merchants=20, scenario="incidents")

    def written(hour_range):
        return [pair for chunk, *_ in data_generator._chunks(cfg, hour_range, 7) for pair in chunk
                if '"_index":"pp-merchantai-events"' in pair[0]]

    inside = written(HourRange(T0, T0 + 8 * 24 * HOUR))
    assert len(inside) == len(log.between(H0, H0 + 8 * 24)) > 20
    for event in notices:
        h = event.minute // 60
        if h < H0 + 8 * 24:
            hour = datetime.fromtimestamp(h * 3600, tz=timezone.utc)
            alone = written(HourRange(hour, hour + HOUR))
            assert [json.loads(source) for _, source in alone if event.event_id in _] == [event.source()]
            assert all(pair in inside for pair in alone)


def test_adding_merchants_changes_no_existing_merchants_events():
    _, small = change_log(merchants=10)
    _, large = change_log(merchants=30)
    mine = [event for event in large.between(H0, H0 + 2 * 168)
            if event.provider or int(event.merchant_ids[0][-3:]) <= 10]
    # The same events, but for causes of incidents that moved with the roster (a provider's outage
    # on more merchants names them all).
    assert {e.event_id for e in small.between(H0, H0 + 2 * 168) if e.type != "provider_status"} == {
        e.event_id for e in mine if e.type != "provider_status" or not e.provider}


# --- on the engine -----------------------------------------------------------------------------


@pytest.fixture
def host(cluster, monkeypatch):
    monkeypatch.setenv("ELASTICSEARCH_HOST", cluster.url)
    monkeypatch.setenv("SCENARIO", "incidents")
    return cluster


def test_the_events_index_holds_the_hours_events_with_its_strict_template(host):
    hour = datetime(2026, 11, 2, 12, tzinfo=timezone.utc)
    h = generator.hour_index(hour)
    schedule, log = change_log()
    # An hour with a provider's status notice on an outage.
    h = next(event.minute // 60 for event in log.between(h, h + 168) if event.type == "provider_status"
             and event.event_id in causes(schedule, h, h + 168))
    summary = data_generator.lambda_handler({"time": generator.stamp(h)}, None)
    expected = {event.event_id: event.source() for event in log.at(h)}
    assert "events" not in summary and len(expected) >= 1 and summary["events_index"] == "pp-merchantai-events"
    assert summary["documents"] == summary["indexed"] == 20
    assert host.documents("pp-merchantai-events") == expected
    template = host.get("/_index_template/pp-merchantai-events")["index_templates"][0]["index_template"]
    assert template["index_patterns"] == ["pp-merchantai-events"] and template["priority"] == 500
    mapping = host.get("/pp-merchantai-events/_mapping")["pp-merchantai-events"]["mappings"]
    assert mapping["dynamic"] == "strict" and set(mapping["properties"]) == set(es.EVENTS_MAPPINGS["properties"])
    # The answer key names the cause; no event says anything of it.
    records = host.documents("pp-merchantai-incidents")
    assert set(expected) & {r.get("causal_event_id") for r in records.values()}


def test_warm_run_is_one_request_and_cold_adds_only_the_events_template(host):
    data_generator.lambda_handler({"time": "2026-11-03T10:00:00Z"}, None)
    assert [(r.method, r.path.split("?")[0]) for r in host.proxy.requests] == [
        ("PUT", "/_index_template/pp-merchantai"), ("PUT", "/_index_template/pp-merchantai-incidents"),
        ("PUT", "/_index_template/pp-merchantai-events"), ("PUT", "/_bulk")]
    before = len(host.proxy.requests)
    data_generator.lambda_handler({"time": "2026-11-03T11:00:00Z"}, None)
    assert [(r.method, r.path.split("?")[0]) for r in host.proxy.requests[before:]] == [("PUT", "/_bulk")]


def test_thirty_days_on_the_engine_hold_twice_as_many_red_herrings_as_causes(host):
    end = T0 + DAYS_30 * HOUR
    assert data_generator.main(["--start", T0.isoformat(), "--end", end.isoformat(), "--merchants", "10"]) == 0
    held = host.documents("pp-merchantai-events")
    records = host.documents("pp-merchantai-incidents")
    causal = {r["causal_event_id"] for r in records.values() if "causal_event_id" in r} & set(held)
    assert len(causal) >= 8 and len(held) - len(causal) >= 2 * len(causal)
    assert all(T0.strftime("%Y-%m-%dT%H") <= e["timestamp"] < end.strftime("%Y-%m-%dT%H") for e in held.values())


def test_the_evaluators_reader_gets_the_events_from_the_engine(host):
    data_generator.lambda_handler({"start": "2026-11-02T00:00:00Z", "end": "2026-11-03T00:00:00Z"}, None)
    client = es.connect(host.url)
    start, end = datetime(2026, 11, 2, tzinfo=timezone.utc), datetime(2026, 11, 3, tzinfo=timezone.utc)
    host.get("/pp-merchantai-events/_refresh")
    read = es.read_events(client, "pp-merchantai-events", start, end)
    _, log = change_log()
    assert read == [event.source() for event in log.between(generator.hour_index(start), generator.hour_index(end))]
    assert es.read_events(client, "no-such-events", start, end) == []


# --- upgrades: an index made by the previous version ------------------------------------------

# The data index's and the answer key's mappings as the previous version's templates made them,
# copied literally (before errors_by_code, latency_p95_ms, channels and causal_event_id).
PREVIOUS_DATA_MAPPINGS = {
    "dynamic": "strict",
    "properties": {
        "merchant_id": {"type": "keyword"}, "merchant_name": {"type": "keyword"}, "category": {"type": "keyword"},
        "payment_provider": {"type": "keyword"}, "city": {"type": "keyword"}, "country": {"type": "keyword"},
        "timestamp": {"type": "date"}, "sessions": {"type": "integer"}, "transaction_count": {"type": "integer"},
        "successful_transactions": {"type": "integer"}, "failed_transactions": {"type": "integer"},
        "conversion_rate": {"type": "float"}, "error_rate": {"type": "float"}, "location": {"type": "geo_point"},
    },
}
PREVIOUS_ANSWER_KEY_MAPPINGS = {
    "dynamic": "strict",
    "properties": {
        "incident_id": {"type": "keyword"}, "kind": {"type": "keyword"}, "is_issue": {"type": "boolean"},
        "issues": {"type": "keyword"}, "merchant_ids": {"type": "keyword"}, "payment_provider": {"type": "keyword"},
        "root_cause": {"properties": {"category": {"type": "keyword"}, "component": {"type": "keyword"},
                                      "description": {"type": "text"}}},
        "onset": {"type": "date"}, "plateau_start": {"type": "date"}, "recovery_start": {"type": "date"},
        "end": {"type": "date"}, "remediation": {"type": "keyword"}, "scenario": {"type": "keyword"},
        "seed": {"type": "long"}, "resolved_by": {"type": "keyword"}, "resolved_at": {"type": "date"},
        "remediation_id": {"type": "keyword"},
        "wrong_actions": {"properties": {
            "remediation_id": {"type": "keyword"}, "action": {"type": "keyword"}, "timestamp": {"type": "date"},
            "merchant_id": {"type": "keyword"}, "payment_provider": {"type": "keyword"}}},
    },
}


def create(host, index, mappings):
    request = urllib.request.Request(host.clone.url + f"/{index}", method="PUT", data=json.dumps(
        {"mappings": mappings}).encode(), headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request).close()


def test_an_index_made_by_the_previous_version_takes_this_versions_run(host, caplog):
    create(host, "pp-merchantai", PREVIOUS_DATA_MAPPINGS)
    create(host, "pp-merchantai-incidents", PREVIOUS_ANSWER_KEY_MAPPINGS)
    caplog.set_level(logging.INFO, logger="pp_merchantai.es")
    summary = data_generator.lambda_handler({"time": "2026-11-03T10:00:00Z"}, None)
    assert (summary["status"], summary["indexed"], summary["failed"]) == ("ok", 20, 0)
    requests = [(r.method, r.path.split("?")[0]) for r in host.proxy.requests]
    assert requests == [
        ("PUT", "/_index_template/pp-merchantai"), ("PUT", "/_index_template/pp-merchantai-incidents"),
        ("PUT", "/_index_template/pp-merchantai-events"), ("PUT", "/_bulk"),
        ("PUT", "/pp-merchantai-incidents/_mapping"), ("PUT", "/pp-merchantai/_mapping"), ("PUT", "/_bulk")]
    upgraded = [r.getMessage() for r in caplog.records if "made by an earlier version" in r.getMessage()]
    assert upgraded[0] == ("index 'pp-merchantai-incidents' was made by an earlier version (it lacks causal_event_id, "
                           "seed_digest): "
                           "adding the fields this version maps to its mapping")
    # The engine names the first unmapped field it meets in each document: one of the new ones.
    assert re.fullmatch(r"index 'pp-merchantai' was made by an earlier version \(it lacks ((channels|errors_by_code|"
                        r"latency_p95_ms)(, )?)+\): adding the fields this version maps to its mapping", upgraded[1])
    assert len(upgraded) == 2
    properties = host.get("/pp-merchantai/_mapping")["pp-merchantai"]["mappings"]["properties"]
    assert set(properties) == set(es.MAPPINGS["properties"])
    assert properties["channels"]["properties"]["app"]["properties"]["sessions"] == {"type": "integer"}
    assert host.documents() == {generator.document_id(m, datetime(2026, 11, 3, 10, tzinfo=timezone.utc)): doc
                                for m, doc in zip(generator.roster(1729, 20), data_generator.documents(
                                    Config(scenario="incidents"), datetime(2026, 11, 3, 10, tzinfo=timezone.utc)))}
    hour = HourRange(datetime(2026, 11, 3, 10, tzinfo=timezone.utc), datetime(2026, 11, 3, 11, tzinfo=timezone.utc))
    assert host.count("pp-merchantai-incidents") == len(incidents.answer_key(Config(scenario="incidents"), hour)[0])
    # The next run: the normal path, no extra request.
    before = len(host.proxy.requests)
    data_generator.lambda_handler({"time": "2026-11-03T11:00:00Z"}, None)
    assert [(r.method, r.path.split("?")[0]) for r in host.proxy.requests[before:]] == [("PUT", "/_bulk")]
    assert host.count() == 40


def test_an_index_made_before_payment_provider_gains_it_too(host):
    before_providers = {**PREVIOUS_DATA_MAPPINGS, "properties": {
        name: spec for name, spec in PREVIOUS_DATA_MAPPINGS["properties"].items() if name != "payment_provider"}}
    create(host, "pp-merchantai", before_providers)
    summary = data_generator.lambda_handler({"time": "2026-11-03T10:00:00Z"}, None)
    assert (summary["indexed"], summary["failed"]) == (20, 0)
    properties = host.get("/pp-merchantai/_mapping")["pp-merchantai"]["mappings"]["properties"]
    assert properties["payment_provider"] == {"type": "keyword"} and "errors_by_code" in properties


def test_a_field_of_the_wrong_type_stays_a_permanent_failure_naming_it(host):
    wrong = {**PREVIOUS_DATA_MAPPINGS, "properties": {**PREVIOUS_DATA_MAPPINGS["properties"],
                                                      "channels": {"type": "keyword"}}}
    create(host, "pp-merchantai", wrong)
    with pytest.raises(es.BulkError) as failed:
        data_generator.lambda_handler({"time": "2026-11-03T10:00:00Z"}, None)
    assert failed.value.failed == 20
    assert "channels" in str(failed.value)
    # One attempt to add the fields, refused; no loop of them.
    assert sum(r.path.startswith("/pp-merchantai/_mapping") for r in host.proxy.requests) <= 1
