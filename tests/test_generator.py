"""Unit tests of the pure generator in SCENARIO=steady: ranges, consistency, determinism, variation.

(Incidents: test_incidents.py. The arithmetic against its readable specification: tests/oracle.py.)"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

import data_generator
import generator
import incidents
import oracle
from config import Config, HourRange, Scenario
from generator import HIGH_ERROR_RATE, LOW_CONVERSION, MISSING_LOCATION

HOUR = timedelta(hours=1)
T0 = datetime(2026, 11, 27, 8, tzinfo=timezone.utc)
WEEK = [T0 + i * HOUR for i in range(7 * 24)]
STEADY = Scenario("steady", "steady")


def docs_for(merchant, hours=WEEK, inline=True):
    """The merchant's steady documents (with the truth inline), through the run's one implementation."""
    lines = generator.HourlyLines([merchant], "pp-merchantai", incidents.Schedule(0, STEADY, [merchant]), inline)
    return [json.loads(lines.lines(hour)[0][1]) for hour in hours]


def document(merchant, hour, inline=True):
    return docs_for(merchant, [hour], inline)[0]


@pytest.fixture(scope="module")
def merchants():
    return generator.roster(1729, 60)


def test_ids_are_zero_padded_and_sequential():
    assert [m.merchant_id for m in generator.roster(7, 3)] == ["merchant_001", "merchant_002", "merchant_003"]
    assert generator.merchant(7, 1234).merchant_id == "merchant_1234"


def test_document_id_format():
    m = generator.merchant(1729, 7)
    assert generator.document_id(m, datetime(2026, 11, 27, 8, tzinfo=timezone.utc)) == "merchant_007-2026112708"


def test_rates_stay_in_their_profile_range_on_every_document(merchants):
    for m in merchants:
        conversion = (5, 30) if LOW_CONVERSION in m.issues else (30, 80)
        errors = (15, 40) if HIGH_ERROR_RATE in m.issues else (1, 15)
        for doc in docs_for(m):
            assert conversion[0] <= doc["conversion_rate"] <= conversion[1], (m.merchant_id, doc)
            assert errors[0] <= doc["error_rate"] <= errors[1], (m.merchant_id, doc)


def test_counts_and_rates_are_consistent(merchants):
    for m in merchants[:20]:
        for doc in docs_for(m):
            assert doc["successful_transactions"] + doc["failed_transactions"] == doc["transaction_count"]
            assert doc["conversion_rate"] == round(100 * doc["transaction_count"] / doc["sessions"], 2)
            assert doc["error_rate"] == round(100 * doc["failed_transactions"] / doc["transaction_count"], 2)
            assert all(isinstance(doc[f], int) for f in ("sessions", "transaction_count", "failed_transactions"))
            assert doc["sessions"] >= generator.MIN_SESSIONS


def test_labels_match_the_document_shape(merchants):
    for m in merchants:
        doc = document(m, T0)
        assert doc["issues"] == list(m.issues)
        assert doc["is_problematic"] is bool(m.issues)
        assert doc["incident_ids"] == [f"{label}-{m.merchant_id}" for label in m.issues]
        assert "issues" not in document(m, T0, inline=False)
        if MISSING_LOCATION in m.issues:
            assert not {"city", "country", "location"} & set(doc)
        else:
            assert doc["location"] == {"lat": m.lat, "lon": m.lon}
            assert (doc["city"], doc["country"]) == (m.city, m.country)


def test_document_fields_and_timestamp():
    m = generator.merchant(1729, 1)
    doc = document(m, T0)
    assert doc["timestamp"] == "2026-11-27T08:00:00Z"
    assert list(doc) == [
        "merchant_id", "merchant_name", "category", "payment_provider", "city", "country", "timestamp", "sessions",
        "transaction_count", "successful_transactions", "failed_transactions", "conversion_rate",
        "error_rate", "location", "issues", "is_problematic", "incident_ids",
    ]
    assert list(document(m, T0, inline=False)) == list(doc)[:-3]


def test_default_roster_is_pinned():
    """The default seed's roster is part of the contract: every deployment gets this one."""
    roster = generator.roster(1729, 20)
    problems = {m.merchant_id: list(m.issues) for m in roster if m.issues}
    assert problems == {
        "merchant_003": ["missing_location"],
        "merchant_008": ["missing_location"],
        "merchant_009": ["low_conversion", "high_error_rate"],
        "merchant_010": ["high_error_rate"],
        "merchant_011": ["missing_location"],
        "merchant_012": ["low_conversion"],
        "merchant_019": ["low_conversion", "high_error_rate"],
    }
    assert (roster[0].name, roster[0].category, roster[0].city) == ("Urban Threads", "fashion", "Dublin")
    assert [m.payment_provider for m in roster] == [
        "paylane", "vaultly", "northpay", "northpay", "swiftcharge", "vaultly", "cardwise", "northpay", "paylane",
        "paylane", "vaultly", "vaultly", "swiftcharge", "northpay", "swiftcharge", "cardwise", "northpay",
        "northpay", "swiftcharge", "paylane",
    ]


def test_every_provider_has_one_to_three_merchants_in_every_block_of_ten():
    for seed in range(200):
        roster = generator.roster(seed, 30)
        for block in range(3):
            shares = Counter(m.payment_provider for m in roster[10 * block:10 * (block + 1)])
            assert sorted(shares.values()) == [1, 1, 2, 3, 3], seed
    # Its own random stream: the rest of a merchant is what it was before providers existed (test_golden.py).


def test_the_run_path_writes_what_the_oracle_specifies():
    """What a backfill sends (HourlyLines, stateful across hours) is tests/oracle.py's document to the byte."""
    for seed in (1729, 99, -5):
        roster = generator.roster(seed, 40)
        schedule = incidents.Schedule(seed, STEADY, roster)
        hours = [datetime(1999, 12, 31, 20, tzinfo=timezone.utc) + i * HOUR for i in range(24 * 6)]
        lines = range_lines(roster, hours, seed)
        assert len(lines) == 40 * len(hours)
        for i, (action, source) in enumerate(lines):
            m, hour = roster[i % 40], hours[i // 40]
            assert source == oracle.source_line(m, generator.hour_index(hour), schedule)
            assert action == json.dumps({"index": {"_index": "pp-merchantai", "_id": generator.document_id(m, hour)}},
                                        separators=(",", ":"))


def test_non_ascii_cities_serialize_like_json_dumps():
    sao_paulo = next(k for k in range(1, 500) if generator.merchant(1, k).city == "São Paulo"
                     and generator.merchant(1, k).has_location)
    m = generator.merchant(1, sao_paulo)
    source = json.dumps(document(m, T0), separators=(",", ":"))
    assert '"city":"S\\u00e3o Paulo"' in source
    assert json.loads(source)["city"] == "São Paulo"


def range_lines(roster, hours, seed=1729):
    """The (action, source) pairs of the data index the run path produces for hours, in order."""
    hour_range = HourRange(hours[0], hours[-1] + HOUR)
    cfg = Config(merchants=len(roster), seed=seed)
    return [pair for chunk, records in data_generator._chunks(cfg, hour_range, 7) for pair in chunk
            if '"_index":"pp-merchantai"' in pair[0]]


def test_an_hour_alone_equals_the_same_hour_inside_a_range():
    roster = generator.roster(1729, 20)
    in_range = range_lines(roster, WEEK)
    for i in (0, 50, 167):
        assert in_range[20 * i:20 * (i + 1)] == range_lines(roster, [WEEK[i]])


def test_merchant_depends_only_on_seed_and_k():
    small, large = generator.roster(1729, 5), generator.roster(1729, 200)
    assert small == large[:5]
    assert generator.merchant(1729, 150) == large[149]
    assert [document(m, T0) for m in small] == [document(m, T0) for m in large[:5]]


def test_different_seeds_give_different_rosters():
    a, b = generator.roster(1, 20), generator.roster(2, 20)
    assert [m.name for m in a] != [m.name for m in b]
    assert [document(m, T0)["sessions"] for m in a] != [document(m, T0)["sessions"] for m in b]


def test_about_20_percent_problematic_and_both_kinds_in_every_default_roster():
    for seed in range(300):
        roster = generator.roster(seed, 20)
        kinds = Counter(issue for m in roster for issue in m.issues)
        assert kinds[LOW_CONVERSION] >= 1 and kinds[HIGH_ERROR_RATE] >= 1, seed
        performance_problems = sum(1 for m in roster if {LOW_CONVERSION, HIGH_ERROR_RATE} & set(m.issues))
        assert performance_problems == 4, seed  # 2 per block of 10: 20 %


def test_problems_come_alone_and_together():
    combos = Counter(
        tuple(i for i in m.issues if i != MISSING_LOCATION)
        for seed in range(100)
        for m in generator.roster(seed, 20)
    )
    assert combos[(LOW_CONVERSION,)] > 0
    assert combos[(HIGH_ERROR_RATE,)] > 0
    assert combos[(LOW_CONVERSION, HIGH_ERROR_RATE)] > 0


def test_missing_location_is_about_ten_percent_over_many_seeds():
    flags = [not generator.merchant(seed, k).has_location for seed in range(500) for k in range(1, 21)]
    share = sum(flags) / len(flags)
    # 10,000 Bernoulli(0.1) draws: standard deviation 0.3 %; 8-12 % is > 6 sigma.
    assert 0.08 <= share <= 0.12, share


def test_missing_location_is_independent_of_performance_problems():
    merchants = [generator.merchant(seed, k) for seed in range(300) for k in range(1, 21)]
    problem = [m for m in merchants if len(m.issues) > (MISSING_LOCATION in m.issues)]
    share = sum(MISSING_LOCATION in m.issues for m in problem) / len(problem)
    assert 0.06 <= share <= 0.14, share


def test_volume_follows_local_time_of_day(merchants):
    for m in merchants[:20]:
        days = [docs_for(m, WEEK[d * 24:(d + 1) * 24]) for d in range(7)]
        for day in days:
            sessions = [doc["sessions"] for doc in day]
            assert max(sessions) / min(sessions) > 1.5, m.merchant_id
        # Busiest local hour is in the day, quietest at night.
        by_local_hour = Counter()
        for doc in (doc for day in days for doc in day):
            hour = datetime.fromisoformat(doc["timestamp"].replace("Z", "+00:00")).hour
            by_local_hour[(hour * 60 + m.utc_offset_minutes) // 60 % 24] += doc["sessions"]
        assert 9 <= max(by_local_hour, key=by_local_hour.get) <= 20
        assert min(by_local_hour, key=by_local_hour.get) in (1, 2, 3, 4, 5)


def test_volume_follows_weekday():
    m = next(m for m in generator.roster(1729, 60) if m.category == "restaurants")
    # Same local hours, Saturday vs Monday, summed over four weeks to average out noise.
    def total(weekday):
        start = datetime(2026, 11, 2, tzinfo=timezone.utc) + timedelta(days=weekday)
        return sum(document(m, start + timedelta(days=7 * w, hours=h))["sessions"]
                   for w in range(4) for h in range(10, 14))
    assert total(5) > 1.3 * total(0)


def test_rates_drift_but_do_not_jump(merchants):
    for m in merchants[:20]:
        rates = [doc["conversion_rate"] for doc in docs_for(m)]
        assert len(set(rates)) > 100  # varies hour to hour
        width = m.conversion_range[1] - m.conversion_range[0]
        assert max(abs(a - b) for a, b in zip(rates, rates[1:])) < 0.25 * width


def test_hours_before_and_after_are_independent_of_order():
    m = generator.merchant(1729, 3)
    forward = [document(m, h) for h in WEEK]
    backward = [document(m, h) for h in reversed(WEEK)][::-1]
    assert forward == backward
