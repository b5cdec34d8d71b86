"""Incidents: the catalog's effects on the documents, ramps, look-alikes, frequency rules,
determinism and layering, the answer key's records, GROUND_TRUTH. Pure: no engine here."""

from __future__ import annotations

import bisect
import json
from datetime import datetime, timedelta, timezone

import pytest

import catalog
import data_generator
import generator
import incidents
import oracle
from config import Config, HourRange
from scenario import Scenario

HOUR = timedelta(hours=1)
T0 = datetime(2026, 10, 1, 5, tzinfo=timezone.utc)  # not on a week boundary
H0 = generator.hour_index(T0)
HOURS = 4 * 168
OBSERVED = {"merchant_id", "merchant_name", "category", "payment_provider", "city", "country", "timestamp", "sessions",
            "transaction_count", "successful_transactions", "failed_transactions", "conversion_rate", "error_rate",
            "location", "errors_by_code", "latency_p95_ms", "channels"}
INCIDENTS = Scenario("incidents", "incidents")


def generate(cfg: Config, hours: int = HOURS, start: datetime = T0):
    """(roster, schedule, {(position, epoch hour): document}) of cfg over hours from start."""
    merchants = generator.roster(cfg.seed, cfg.merchants)
    schedule = incidents.schedule(cfg, merchants)
    lines = generator.HourlyLines(merchants, cfg.index, schedule, cfg.ground_truth == "inline")
    docs = {}
    for i in range(hours):
        hour = start + i * HOUR
        for position, (_, source) in enumerate(lines.lines(hour)):
            docs[position, generator.hour_index(hour)] = json.loads(source)
    return merchants, schedule, docs


@pytest.fixture(scope="module", params=[1729, -8])
def world(request):
    """One seed's 30 merchants over 4 weeks: steady, incidents, and incidents with the truth inline."""
    seed = request.param
    merchants, schedule, docs = generate(Config(seed=seed, merchants=30, scenario="incidents"))
    _, _, steady = generate(Config(seed=seed, merchants=30))
    _, _, inline = generate(Config(seed=seed, merchants=30, scenario="incidents", ground_truth="inline"))
    return merchants, schedule, docs, steady, inline


def hours_of(incident, phase: str) -> range:
    return {"onset": range(incident.onset, incident.plateau_start),
            "plateau": range(incident.plateau_start, incident.recovery_start),
            "recovery": range(incident.recovery_start, incident.end)}[phase]


def in_window(h: int) -> bool:
    return H0 <= h < H0 + HOURS


def test_the_catalog_is_the_issues_table():
    # The incidents tier's catalog (the hard tier's: tests/test_hard.py).
    table = {kind.name: (kind.scope, kind.labels, kind.is_issue, kind.category, kind.component, kind.remediation)
             for kind in catalog.KINDS if kind.scope != "chronic"}
    assert table == {
        "payment_outage": ("provider", ("high_error_rate",), True, "dependency", "payment_provider:{provider}",
                           ("failover_payment_provider",)),
        "gateway_timeouts": ("merchant", ("high_error_rate", "low_conversion"), True, "configuration",
                             "payment_gateway", ("raise_gateway_timeout",)),
        "checkout_regression": ("merchant", ("low_conversion",), True, "code_defect", "checkout_release",
                                ("rollback_release",)),
        "location_feed_loss": ("merchant", ("missing_location",), True, "data_pipeline", "location_feed",
                               ("restore_location_feed",)),
        "traffic_drop": ("merchant", ("traffic_drop",), True, "configuration", "storefront_dns", ("fix_dns_record",)),
        "promo_surge": ("merchant", (), False, "marketing", "promotion", ()),
        "maintenance_window": ("merchant", (), False, "operations", "planned_maintenance", ()),
    }
    for kind in catalog.KINDS:
        assert 1 <= kind.ramp_hours[0] <= kind.ramp_hours[1] <= 3, kind.name
        assert 2 <= kind.plateau_hours[0] <= kind.plateau_hours[1], kind.name
        assert 1 <= kind.recovery_hours[0] <= kind.recovery_hours[1] <= 6, kind.name


def test_the_fast_path_writes_what_the_oracle_specifies(world):
    """HourlyLines (stateful, hoisted, precomputed) against tests/oracle.py, to the byte, in and out of incidents."""
    merchants, schedule, docs, _, inline = world
    checked = 0
    for h in range(H0, H0 + 2 * 168):
        active = schedule.acute(h, h + 1)
        for position, m in enumerate(merchants):
            mine = [(incident, oracle.share(incident, h)) for incident in active if position in incident.positions]
            ids = schedule.chronic_ids(position)
            assert docs[position, h] == oracle.document(m, h, mine), (m.merchant_id, h)
            assert json.dumps(inline[position, h], separators=(",", ":")) == json.dumps(
                oracle.document(m, h, mine, ids, inline=True), separators=(",", ":")), (m.merchant_id, h)
            checked += bool(mine)
    assert checked > 500


def test_layered_scenario_files_follow_the_oracle_too():
    """black-friday.json puts file incidents on top of catalog ones (one merchant has two at once)."""
    cfg = Config(merchants=20, scenario="black-friday.json", ground_truth="inline")
    start = datetime(2026, 11, 26, tzinfo=timezone.utc)
    merchants, schedule, docs = generate(cfg, 96, start)
    layered = 0
    for (position, h), doc in docs.items():
        line = json.dumps(doc, separators=(",", ":"))
        assert line == oracle.source_line(merchants[position], h, schedule, inline=True)
        layered += len(doc["incident_ids"]) - len(schedule.chronic_ids(position)) >= 2
    assert layered > 0


def test_overlapping_session_effects_multiply_as_the_oracle_says(tmp_path):
    """A promotion and a traffic drop on one merchant at once: both factors apply."""
    path = tmp_path / "both.json"
    path.write_text(json.dumps({"base": "steady", "incidents": [
        {"kind": "promo_surge", "merchants": ["merchant_004"], "start": "2026-11-10T08:00:00Z", "hours": 8},
        {"kind": "traffic_drop", "merchants": ["merchant_004"], "start": "2026-11-10T10:00:00Z", "hours": 4},
    ]}))
    cfg = Config(merchants=6, scenario=str(path), ground_truth="inline")
    merchants, schedule, docs = generate(cfg, 24, datetime(2026, 11, 10, tzinfo=timezone.utc))
    both = 0
    for (position, h), doc in docs.items():
        assert json.dumps(doc, separators=(",", ":")) == oracle.source_line(merchants[position], h, schedule, inline=True)
        both += len(schedule.at(h).get(position, ())) == 2
    assert both >= 4


def test_inline_labels_follow_the_issues_inclusive_ranges():
    """conversion 5-30 %, errors 15-40 % (ends included), sessions at most half of usual."""
    shown = generator._shown
    assert shown("low_conversion", 30.0, 0, True, 0, 0) and shown("low_conversion", 5.0, 0, True, 0, 0)
    assert not shown("low_conversion", 30.01, 0, True, 0, 0) and not shown("low_conversion", 4.99, 0, True, 0, 0)
    assert shown("high_error_rate", 0, 15.0, True, 0, 0) and shown("high_error_rate", 0, 40.0, True, 0, 0)
    assert not shown("high_error_rate", 0, 14.99, True, 0, 0) and not shown("high_error_rate", 0, 40.01, True, 0, 0)
    assert shown("missing_location", 50, 5, False, 0, 0) and not shown("missing_location", 50, 5, True, 0, 0)
    assert shown("traffic_drop", 50, 5, True, 500, 1000) and not shown("traffic_drop", 50, 5, True, 501, 1000)


def test_every_kinds_plateau_values_lie_in_its_labels_ranges(world):
    merchants, schedule, docs, steady, _ = world
    seen = set()
    for incident in schedule.acute(H0, H0 + HOURS):
        kind = incident.kind
        for h in filter(in_window, hours_of(incident, "plateau")):
            for position in incident.positions:
                doc, usual, m = docs[position, h], steady[position, h]["sessions"], merchants[position]
                seen.add(kind.name)
                if kind.conversion:
                    assert 5 <= doc["conversion_rate"] <= 30, (incident.incident_id, h)
                else:
                    assert m.conversion_range[0] <= doc["conversion_rate"] <= m.conversion_range[1]
                if kind.errors:
                    assert 15 <= doc["error_rate"] <= 40, (incident.incident_id, h)
                else:
                    assert m.error_range[0] <= doc["error_rate"] <= m.error_range[1]
                if kind.drops_location:
                    assert not {"location", "city", "country"} & set(doc)
                if kind.name == "traffic_drop" and doc["sessions"] > generator.MIN_SESSIONS:
                    assert 0.10 * usual <= doc["sessions"] <= 0.50 * usual, (incident.incident_id, h)
                if kind.name == "promo_surge" and usual > generator.MIN_SESSIONS:
                    assert 2 * usual <= doc["sessions"] <= 4 * usual, (incident.incident_id, h)
                if kind.name == "maintenance_window" and doc["sessions"] > generator.MIN_SESSIONS:
                    assert 0.20 * usual <= doc["sessions"] <= 0.60 * usual, (incident.incident_id, h)
                if not kind.sessions:
                    assert doc["sessions"] == usual
    assert seen == set(catalog.ACUTE_KINDS)


def test_ramps_lie_between_normal_and_plateau(world):
    merchants, schedule, docs, steady, _ = world
    checked = 0
    for incident in schedule.acute(H0, H0 + HOURS):
        for h in filter(in_window, [*hours_of(incident, "onset"), *hours_of(incident, "recovery")]):
            assert 0 < oracle.share(incident, h) < 1
            for position in incident.positions:
                ramp, normal = docs[position, h], steady[position, h]
                plateau = oracle.document(merchants[position], h, [(incident, 1.0)])
                low, high = sorted((normal["sessions"], plateau["sessions"]))
                assert low <= ramp["sessions"] <= high
                # Within one count of the span: the counts are rounded.
                for rate, whole in (("conversion_rate", "sessions"), ("error_rate", "transaction_count")):
                    slack = 100 / min(d[whole] for d in (ramp, normal, plateau)) + 0.01
                    low, high = sorted((normal[rate], plateau[rate]))
                    assert low - slack <= ramp[rate] <= high + slack, (incident.incident_id, h, rate)
                checked += 1
    assert checked > 200


def test_benign_lookalikes_stay_in_the_normal_ranges(world):
    merchants, schedule, docs, steady, _ = world
    benign = [incident for incident in schedule.acute(H0, H0 + HOURS) if not incident.kind.is_issue]
    assert {incident.kind.name for incident in benign} == {"promo_surge", "maintenance_window"}
    for incident in benign:
        (position,) = incident.positions
        m = merchants[position]
        for h in filter(in_window, range(incident.onset, incident.end)):
            doc = docs[position, h]
            assert m.conversion_range[0] <= doc["conversion_rate"] <= m.conversion_range[1]
            assert m.error_range[0] <= doc["error_rate"] <= m.error_range[1]
            assert ("location" in doc) == m.has_location
        if incident.kind.name == "maintenance_window":
            # 2-3 quiet hours in the local night, 1-hour ramps.
            assert 2 <= incident.recovery_start - incident.plateau_start <= 3
            assert incident.plateau_start - incident.onset == incident.end - incident.recovery_start == 1
            local = timezone(timedelta(minutes=m.utc_offset_minutes))
            for h in hours_of(incident, "plateau"):
                assert 1 <= datetime.fromtimestamp(h * 3600, local).hour <= 4, (incident.incident_id, h)


def test_incidents_equal_steady_outside_incidents(world):
    _, schedule, docs, steady, _ = world
    inside = {(position, h) for incident in schedule.acute(H0, H0 + HOURS)
              for position in incident.positions for h in range(incident.onset, incident.end)}
    differ = 0
    for key, doc in docs.items():
        if key in inside:
            differ += doc != steady[key]
        else:
            assert doc == steady[key], key
    assert differ > 0.9 * len(inside & set(docs))


def test_a_chronic_merchant_stays_in_its_chronic_ranges(world):
    merchants, schedule, docs, _, _ = world
    for (position, h), doc in docs.items():
        m = merchants[position]
        if generator.LOW_CONVERSION in m.issues:
            assert 5 <= doc["conversion_rate"] <= 30
        if generator.HIGH_ERROR_RATE in m.issues:
            assert 15 <= doc["error_rate"] <= 40
        if generator.MISSING_LOCATION in m.issues:
            assert "location" not in doc


def test_inline_labels_agree_with_the_values(world):
    merchants, schedule, _, steady, inline = world
    for h in range(H0, H0 + HOURS):
        active = schedule.acute(h, h + 1)
        for position, m in enumerate(merchants):
            doc = inline[position, h]
            mine = [incident for incident in active if position in incident.positions]
            labels = set(m.issues) | {label for incident in mine for label in incident.kind.labels}
            shows = {
                "low_conversion": 5 <= doc["conversion_rate"] <= 30,
                "high_error_rate": 15 <= doc["error_rate"] <= 40,
                "missing_location": "location" not in doc,
                "traffic_drop": doc["sessions"] <= steady[position, h]["sessions"] / 2,
            }
            assert set(doc["issues"]) == {label for label in labels if shows[label]}, (m.merchant_id, h)
            assert doc["is_problematic"] is bool(doc["issues"])
            assert doc["incident_ids"] == schedule.chronic_ids(position) + [i.incident_id for i in mine]
            assert set(doc) - OBSERVED == {"issues", "is_problematic", "incident_ids"}


def test_separate_documents_carry_no_truth(world):
    _, _, docs, _, _ = world
    assert set().union(*map(set, docs.values())) == OBSERVED


# --- frequency rules --------------------------------------------------------------------------

SPAN = 9 * 168
WINDOW = 30 * 24


def check_frequency_rules(seed: int, start: int) -> None:
    """Every 30-day window (any starting hour) inside SPAN hours from start, 20 merchants."""
    roster = generator.roster(seed, 20)
    schedule = incidents.Schedule(seed, INCIDENTS, roster)
    found = schedule.acute(start - 168, start + SPAN)
    for incident in found:
        if incident.kind.scope == "merchant" and incident.kind.is_issue:
            # Never where the merchant's chronic profile already shows all its labels: nothing would show.
            (position,) = incident.positions
            assert not set(incident.labels) <= set(roster[position].issues), (seed, incident.incident_id)
    onsets: dict = {}
    for incident in found:
        onsets.setdefault(incident.kind.name, []).append(incident.onset)
    onsets["benign"] = sorted(i.onset for i in found if not i.kind.is_issue)
    onsets["outage on 2+"] = [i.onset for i in found if i.kind.name == "payment_outage" and len(i.positions) >= 2]
    covered = [bytearray(SPAN) for _ in range(20)]
    for incident in found:
        lo, hi = max(incident.onset, start) - start, min(incident.end, start + SPAN) - start
        if incident.kind.is_issue and lo < hi:
            for position in incident.positions:
                covered[position][lo:hi] = b"\x01" * (hi - lo)
    per_hour = [sum(column) for column in zip(*covered)]
    assert max(per_hour) <= 10, seed  # never more than half of the merchants in an acute incident
    prefix = [0]
    for count in per_hour:
        prefix.append(prefix[-1] + count)
    for w in range(start, start + SPAN - WINDOW + 1):
        def occurrences(name):
            times = onsets.get(name, [])
            return bisect.bisect_left(times, w + WINDOW) - bisect.bisect_left(times, w)
        for name in (*(k for k in catalog.ACUTE_KINDS if catalog.CATALOG[k].is_issue), "outage on 2+"):
            assert occurrences(name) >= 1, (seed, w, name)
        assert occurrences("benign") >= 5, (seed, w)
        share = (prefix[w - start + WINDOW] - prefix[w - start]) / (20 * WINDOW)
        assert 0.05 <= share <= 0.25, (seed, w, share)


def test_frequency_rules_hold_over_100_seeds_in_every_30_day_window():
    for seed in range(100):
        check_frequency_rules(seed, H0 + 17 * seed)  # windows at every hour of the week, across seeds


# --- determinism and layering ----------------------------------------------------------------

def test_an_hour_alone_equals_the_same_hour_inside_a_range_mid_incident():
    cfg = Config(merchants=20, scenario="incidents", ground_truth="inline")
    schedule = incidents.schedule(cfg)
    incident = next(i for i in schedule.acute(H0 + 48, H0 + 168) if i.onset < i.plateau_start - 1)
    h = incident.plateau_start  # the incident began before this hour
    hour = datetime.fromtimestamp(h * 3600, tz=timezone.utc)

    def pairs(hour_range):
        return [pair for chunk, *_ in data_generator._chunks(cfg, hour_range, 7) for pair in chunk]

    alone = pairs(HourRange(hour, hour + HOUR))
    inside = pairs(HourRange(hour - 40 * HOUR, hour + 5 * HOUR))
    documents = [pair for pair in alone if '"_index":"pp-merchantai"' in pair[0]]
    assert len(documents) == 20 and all(pair in inside for pair in documents)
    # The run that starts mid-incident still writes its record.
    ids = [json.loads(action)["index"]["_id"] for action, _ in alone if "-incidents" in action]
    assert incident.incident_id in ids


def test_adding_merchants_changes_no_existing_merchants_incidents_or_documents():
    small = Config(merchants=20, scenario="incidents", ground_truth="inline")
    large = Config(merchants=45, scenario="incidents", ground_truth="inline")

    def per_merchant(cfg):
        schedule = incidents.schedule(cfg)
        return {(m_id, i.incident_id, i.onset, i.plateau_start, i.recovery_start, i.end)
                for i in schedule.acute(H0, H0 + HOURS) for m_id in i.merchant_ids if m_id <= "merchant_020"}

    assert per_merchant(small) == per_merchant(large)
    _, _, few = generate(small, 2 * 168)
    _, _, many = generate(large, 2 * 168)
    assert few == {key: doc for key, doc in many.items() if key[0] < 20}


def test_the_seed_changes_the_incidents():
    def ids(seed):
        return {i.incident_id for i in incidents.schedule(Config(seed=seed, scenario="incidents")).acute(H0, H0 + HOURS)}
    assert ids(1) and ids(2) and not ids(1) & ids(2)


def test_steady_has_no_acute_incidents_and_its_answer_key_is_the_chronic_profiles():
    cfg = Config(merchants=20)
    records = incidents.answer_key(cfg, HourRange(T0, T0 + 24 * HOUR))[0]
    assert [(r["kind"], r["merchant_ids"]) for r in records] == [
        ("missing_location", ["merchant_003"]), ("missing_location", ["merchant_008"]),
        ("low_conversion", ["merchant_009"]), ("high_error_rate", ["merchant_009"]),
        ("high_error_rate", ["merchant_010"]), ("missing_location", ["merchant_011"]),
        ("low_conversion", ["merchant_012"]), ("low_conversion", ["merchant_019"]),
        ("high_error_rate", ["merchant_019"]),
    ]
    assert all(r["onset"] is None and r["end"] is None and r["remediation"] == [] for r in records)


def test_answer_key_records_have_the_issues_fields():
    cfg = Config(merchants=20, scenario="incidents")
    records = incidents.answer_key(cfg, HourRange(T0, T0 + 14 * 24 * HOUR))[0]
    fields = ["incident_id", "kind", "is_issue", "issues", "merchant_ids", "root_cause", "onset", "plateau_start",
              "recovery_start", "end", "remediation", "scenario", "seed_digest"]
    outage = next(r for r in records if r["kind"] == "payment_outage")
    # The record of an incident that a change event caused names it, last.
    caused = [r for r in records if "causal_event_id" in r]
    assert caused and all(list(r)[-1] == "causal_event_id" for r in caused)
    full, records = records, [{k: v for k, v in r.items() if k != "causal_event_id"} for r in records]
    outage = next(r for r in records if r["kind"] == "payment_outage")
    assert list(outage) == fields[:5] + ["payment_provider"] + fields[5:]
    assert outage["root_cause"]["component"] == f"payment_provider:{outage['payment_provider']}"
    assert outage["remediation"] == ["failover_payment_provider"] and outage["issues"] == ["high_error_rate"]
    assert len(outage["merchant_ids"]) >= 2
    assert all(list(r) == fields for r in records if r["kind"] != "payment_outage")
    promo = next(r for r in records if r["kind"] == "promo_surge")
    assert (promo["is_issue"], promo["issues"], promo["remediation"]) == (False, [], [])
    acute = [r for r in records if r["onset"]]
    assert all(r["onset"] < r["plateau_start"] < r["recovery_start"] < r["end"] for r in acute)
    # The seed's digest, never the seed: with the seed, the whole key can be recomputed.
    assert all(r["scenario"] == "incidents" and r["seed_digest"] == "98b1690510df" for r in records)
    assert not any("1729" in json.dumps(r) for r in records)
    assert len({r["incident_id"] for r in records}) == len(records)
    # Deterministic order: chronic profiles, then by onset.
    assert [r["onset"] for r in acute] == sorted(r["onset"] for r in acute)
    assert full == incidents.answer_key(cfg, HourRange(T0, T0 + 14 * 24 * HOUR))[0]


def test_end_is_exclusive_and_the_stamps_are_hours():
    cfg = Config(merchants=20, scenario="incidents")
    incident = incidents.schedule(cfg).acute(H0, H0 + HOURS)[0]
    record = incident.record("incidents", 1729)
    assert record["end"] == generator.stamp(incident.end)
    assert record["end"].endswith(":00:00Z")
    # The last affected hour is the one before end.
    assert oracle.share(incident, incident.end - 1) > 0


# Clamping moves a count only about once in 100,000 documents; these two are such hours
# (seed 1729, SCENARIO=incidents, 100 merchants): round(53 x 14.4 %) = 8 failed would be an
# error rate of 15.09 %, outside merchant_033's and merchant_043's 1-15 % range.
CLAMPED = [(33, 491371), (43, 491378)]


def test_the_rare_clamped_counts_match_the_oracle():
    cfg = Config(seed=1729, merchants=100, scenario="incidents")
    merchants = generator.roster(cfg.seed, cfg.merchants)
    schedule = incidents.schedule(cfg, merchants)
    lines = generator.HourlyLines(merchants, cfg.index, schedule)
    for k, h in CLAMPED:
        _, source = lines.lines(datetime.fromtimestamp(h * 3600, timezone.utc))[k - 1]
        assert source == oracle.source_line(merchants[k - 1], h, schedule, inline=False)
        doc = json.loads(source)
        assert (doc["transaction_count"], doc["failed_transactions"], doc["error_rate"]) == (53, 7, 13.21)
