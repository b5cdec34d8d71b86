"""The reference solver's rules on hand-built documents and events, with literal expectations."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta, timezone

import pytest

from grader import cli as evaluate
from grader import reference

T0 = datetime(2026, 11, 16, tzinfo=timezone.utc)  # the range starts here; history before it
HISTORY = reference.HISTORY_HOURS + reference.LEAD_HOURS


def stamp(n: int) -> str:
    return (T0 + timedelta(hours=n)).strftime("%Y-%m-%dT%H:00:00Z")


def doc(n, merchant="merchant_001", provider="cardwise", web=(600, 240), app=(400, 200), codes=None,
        latency=300, location=True):
    """A document: (sessions, transactions) per channel, failures by code (default 5 % declined)."""
    sessions, transactions = web[0] + app[0], web[1] + app[1]
    codes = {"declined": round(0.05 * transactions)} if codes is None else codes
    full = {code: codes.get(code, 0) for code in reference.CODES}
    d = {"merchant_id": merchant, "payment_provider": provider, "timestamp": stamp(n), "sessions": sessions,
         "transaction_count": transactions, "failed_transactions": sum(full.values()), "errors_by_code": full,
         "conversion_rate": round(100 * transactions / sessions, 2),
         "error_rate": round(100 * sum(full.values()) / transactions, 2),
         "latency_p95_ms": latency,
         "channels": {"web": {"sessions": web[0], "transactions": web[1]},
                      "app": {"sessions": app[0], "transactions": app[1]}}}
    if location:
        d["location"] = {"lat": 1.0, "lon": 2.0}
    return d


def world(changes=None, hours=12, merchant="merchant_001", provider="cardwise"):
    """HISTORY hours of usual documents, then `hours` in the range; changes(n) -> doc overrides from n on."""
    docs = []
    for n in range(-HISTORY, hours):
        extra = changes(n) if changes and n >= 0 else None
        docs.append(doc(n, merchant, provider, **(extra or {})))
    return docs


def solve(docs, events=(), hours=12):
    return [(f["merchant_id"], f["issue"], f["timestamp"], f["note"])
            for f in reference.solve(docs, list(events), T0, T0 + timedelta(hours=hours))]


def from_hour(start, **effect):
    return lambda n: effect if n >= start else None


def event(n, kind, component, merchant="merchant_001", provider=None):
    target = {"payment_provider": provider} if provider else {"merchant_id": merchant}
    return {"event_id": f"{kind}-{n}", **target, "timestamp": stamp(n)[:14] + "25:00Z", "type": kind,
            "component": component}


def test_usual_data_gives_no_finding():
    assert solve(world()) == []


@pytest.mark.parametrize("codes, latency, kind", [
    ({"declined": 22, "provider_unavailable": 40}, 900, "provider_outage"),
    ({"declined": 22, "timeout": 40}, 1900, "timeout_misconfiguration"),
    ({"declined": 22, "fraud_blocked": 40}, 300, "fraud_rules_too_strict"),
    ({"declined": 22, "authentication_failed": 40}, 300, "expired_credentials"),
])
def test_the_code_that_rose_names_the_error_cause(codes, latency, kind):
    # From hour 2: 62 failures of 440 (14 %, inside the normal range) against the usual 5 %.
    found = solve(world(from_hour(2, codes=codes, latency=latency)))
    # The hour alone already: 40 failures of that code beyond its usual 0, at least 0.8 x max(5 %, 4 %)
    # of the 440 transactions.
    assert found == [("merchant_001", "high_error_rate", stamp(2), kind)]


def test_an_outage_names_its_provider_and_a_maintenance_notice_makes_it_benign():
    docs = world(from_hour(2, codes={"declined": 22, "provider_unavailable": 60}, latency=900))
    (finding,) = reference.solve(docs, [], T0, T0 + timedelta(hours=12))
    assert finding["root_cause"] == {"category": "dependency", "component": "payment_provider:cardwise"}
    notice = event(-30, "maintenance_notice", "payment_provider:cardwise", provider="cardwise")
    assert solve(docs, [notice]) == []


@pytest.mark.parametrize("web, app, latency, kind, hour", [
    ((600, 60), (400, 200), 300, "channel_checkout_regression", 4),  # web converts at a quarter, the app as usual
    ((600, 240), (400, 40), 300, "channel_checkout_regression", 4),
    ((600, 120), (400, 100), 600, "three_ds_failure", 4),  # both channels at half, latency doubled
    # Both at half, latency as usual: pooled, 2 hours of 3 are 0.67 of usual, not yet 0.65; 3 are.
    ((600, 120), (400, 100), 300, "pricing_error", 5),
])
def test_channels_and_latency_name_the_conversion_cause(web, app, latency, kind, hour):
    found = solve(world(from_hour(3, web=web, app=app, latency=latency)))
    assert found == [("merchant_001", "low_conversion", stamp(hour), kind)]


def test_bots_are_benign_web_sessions_up_and_purchases_as_usual():
    assert solve(world(from_hour(3, web=(2400, 240)))) == []
    # Web visitors up alone are crawlers even when purchases are off with the merchant's drift.
    assert solve(world(from_hour(3, web=(2400, 170), app=(400, 150)))) == []


def test_one_channel_far_below_the_other_is_a_checkout_release_even_when_the_other_dips():
    # Web converts at a quarter of usual, the app at 0.75: one checkout broke, not the prices.
    found = solve(world(from_hour(3, web=(600, 60), app=(400, 150))))
    assert found == [("merchant_001", "low_conversion", stamp(4), "channel_checkout_regression")]


def test_an_app_that_lost_its_visitors_is_a_traffic_drop_whatever_its_few_buyers_do():
    found = solve(world(from_hour(3, app=(20, 2))))
    assert found == [("merchant_001", "traffic_drop", stamp(4), "app_crash_release")]


def test_latency_under_an_outage_names_no_3ds_failure_the_cause_waits_for_the_errors_to_go():
    # Both channels at half from hour 3; an outage slows payments from 2 to 7; then latency as usual.
    def hours(n):
        outage = {"codes": {"declined": 11, "provider_unavailable": 60}, "latency": 900} if 2 <= n < 8 else {}
        return {**outage, **({"web": (600, 120), "app": (400, 100)} if n >= 3 else {})}
    found = [f for f in solve(world(hours, hours=16), hours=16) if f[1] == "low_conversion"]
    # The outage's failures leave the pool at hour 10: the cause is known there.
    assert found == [("merchant_001", "low_conversion", stamp(10), "pricing_error")]


@pytest.mark.parametrize("web, app, kind", [
    ((60, 24), (400, 200), "dns_misconfiguration"),
    ((600, 240), (20, 10), "app_crash_release"),
    ((150, 60), (100, 50), "cdn_outage"),
    ((380, 150), (40, 20), "app_crash_release"),  # the web down by a third too, the app by a tenth
])
def test_the_channel_that_fell_names_the_traffic_cause(web, app, kind):
    found = solve(world(from_hour(3, web=web, app=app)))
    # Pooled: one fallen hour of three is not yet a half; two are.
    assert found == [("merchant_001", "traffic_drop", stamp(4), kind)]


def test_location_loss_waits_for_the_events_that_tell_its_causes_apart():
    docs = world(from_hour(2, location=False))
    # Nothing said: after the wait, the feed.
    assert solve(docs) == [("merchant_001", "missing_location", stamp(5), "location_feed_outage")]
    # A record change an hour before: at once.
    edit = event(1, "config_change", "merchant_record")
    assert solve(docs, [edit]) == [("merchant_001", "missing_location", stamp(2), "merchant_record_edit")]
    # A geocoder notice two hours after the onset: then.
    notice = event(4, "provider_status", "geocoder")
    assert solve(docs, [notice]) == [("merchant_001", "missing_location", stamp(4), "geocoder_outage")]


def test_an_intermittent_incident_is_one_episode_and_a_long_gap_starts_another():
    # On at 2-3 and 6-7 (2 h off), again at 20-21 (12 h off).
    on = {2, 3, 6, 7, 20, 21}
    docs = world(lambda n: {"web": (60, 24)} if n in on else None, hours=24)
    assert solve(docs, hours=24) == [("merchant_001", "traffic_drop", stamp(3), "dns_misconfiguration"),
                                     ("merchant_001", "traffic_drop", stamp(21), "dns_misconfiguration")]


def test_an_episode_under_way_at_the_start_is_found_there():
    docs = world(lambda n: {"web": (60, 24)})  # from the range's first hour
    later = T0 + timedelta(hours=5)
    found = reference.solve(docs, [], later, later + timedelta(hours=3))
    assert [(f["issue"], f["timestamp"]) for f in found] == [("traffic_drop", stamp(5))]


def test_the_loop_acts_once_per_episode_in_the_hour_its_cause_is_confirmed():
    docs = world(lambda n: {"web": (60, 24)})  # found at hour 1, its cause held at 2 and 3
    hourly = [a for n in range(8) for a in reference.act(docs, [], T0 + timedelta(hours=n),
                                                         T0 + timedelta(hours=n + 1))]
    assert hourly == [("merchant_id", "merchant_001", "fix_dns_record", stamp(1 + reference.CONFIRM))]
    # Over the whole range at once: the same.
    assert reference.act(docs, [], T0, T0 + timedelta(hours=8)) == hourly


def test_an_outage_seen_on_two_merchants_is_failed_over_once():
    outage = from_hour(2, codes={"declined": 22, "provider_unavailable": 60}, latency=900)
    docs = world(outage) + world(outage, merchant="merchant_002")
    assert reference.act(docs, [], T0, T0 + timedelta(hours=12)) == [
        ("payment_provider", "cardwise", "failover_payment_provider", stamp(2 + reference.CONFIRM))]


def test_the_command_reads_documents_and_events_from_the_generators_ndjson(tmp_path):
    docs = world(from_hour(2, location=False))
    lines = []
    for d in docs:
        lines += [json.dumps({"index": {"_index": "pp-merchantai", "_id": d["timestamp"]}}), json.dumps(d)]
    edit = event(1, "config_change", "merchant_record")
    lines += [json.dumps({"index": {"_index": "pp-merchantai-events", "_id": "e1"}}), json.dumps(edit)]
    # A truth record in the same file is skipped, never read; a malformed document is named and skipped.
    lines += [json.dumps({"index": {"_index": "pp-merchantai-incidents", "_id": "x"}}),
              json.dumps({"timestamp": stamp(1), "incident_id": "x"}),
              json.dumps({"index": {"_index": "pp-merchantai", "_id": "bad"}}),
              json.dumps({**docs[-1], "failed_transactions": -3})]
    path = tmp_path / "data.ndjson"
    path.write_text("\n".join(lines) + "\n")
    out, err = io.StringIO(), io.StringIO()
    assert evaluate.main(["reference", "--start", stamp(0), "--end", stamp(12), "--input", str(path)],
                         environ={}, out=out, err=err) == 0, err.getvalue()
    assert [json.loads(line) for line in out.getvalue().splitlines()] == [
        {"merchant_id": "merchant_001", "issue": "missing_location", "timestamp": stamp(2),
         "root_cause": {"category": "configuration", "component": "merchant_record"},
         "note": "merchant_record_edit"}]
    assert f"reference: 1 findings from {len(docs)} documents and 1 events" in err.getvalue()
    assert f"--input line {2 * len(docs) + 6}: failed_transactions must be a whole number from 0" in err.getvalue()
