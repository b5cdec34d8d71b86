"""The evidence beside the rates (errors_by_code, latency_p95_ms, channels) and the volume-true
noise model: properties over many seeds, each catalog kind's declared effect at its plateau
and nothing else, and noise that follows volume. Pure: no engine here."""

from __future__ import annotations

import dataclasses
import json
import statistics
from datetime import datetime, timedelta, timezone
from statistics import NormalDist

import pytest

import catalog
import generator
import incidents
import oracle
from config import Config
from scenario import Scenario

HOUR = timedelta(hours=1)
T0 = datetime(2026, 10, 5, 3, tzinfo=timezone.utc)
H0 = generator.hour_index(T0)
CHANNEL_FIELDS = {"web": {"sessions", "transactions"}, "app": {"sessions", "transactions"}}


def lines(merchants, schedule, hours, start=T0, noise=None):
    """{(position, epoch hour): document} of hours consecutive hours from start."""
    hourly = generator.HourlyLines(merchants, "pp-merchantai", schedule, noise=noise)
    docs = {}
    for i in range(hours):
        hour = start + i * HOUR
        for position, (_, source) in enumerate(hourly.lines(hour)):
            docs[position, generator.hour_index(hour)] = json.loads(source)
    return docs


def world(seed, merchants=20, hours=24 * 7, scenario="incidents", noise=None):
    cfg = Config(seed=seed, merchants=merchants, scenario=scenario)
    roster = generator.roster(seed, merchants)
    schedule = incidents.schedule(cfg, roster)
    return roster, schedule, lines(roster, schedule, hours, noise=noise)


def check_evidence(doc):
    codes = doc["errors_by_code"]
    assert tuple(codes) == generator.ERROR_CODES
    assert all(type(n) is int and n >= 0 for n in codes.values()), doc
    assert sum(codes.values()) == doc["failed_transactions"], doc
    assert type(doc["latency_p95_ms"]) is int and 0 < doc["latency_p95_ms"] <= generator.LATENCY_CAP_MS
    channels = doc["channels"]
    assert {name: set(counts) for name, counts in channels.items()} == CHANNEL_FIELDS
    assert channels["web"]["sessions"] + channels["app"]["sessions"] == doc["sessions"], doc
    assert channels["web"]["transactions"] + channels["app"]["transactions"] == doc["transaction_count"], doc
    for counts in channels.values():
        assert 0 <= counts["transactions"] <= counts["sessions"], doc


@pytest.mark.parametrize("noise", generator.NOISE_MODELS)
def test_codes_and_channels_sum_and_latency_is_positive_over_100_seeds(noise):
    for seed in range(100):
        _, _, docs = world(seed, merchants=12, hours=36, noise=noise)
        for doc in docs.values():
            check_evidence(doc)


def test_the_gaussian_table_is_the_normal_quantiles():
    quantiles = NormalDist()
    assert len(generator._GAUSS) == 256 and statistics.fmean(generator._GAUSS) == 0
    for i, value in enumerate(generator._GAUSS):
        assert abs(value - quantiles.inv_cdf((i + 0.5) / 256)) <= 0.00005


def test_a_merchants_normal_mix_is_stable_and_declines_dominate():
    """Away from incidents, each merchant's share of every code in one fortnight is that of the
    next fortnight and its own normal mix, within binomial noise (4 sd, plus half a point for
    the rounding of small counts), and issuer declines are most of its failures."""
    for seed in (1729, 7, -42):
        roster, schedule, docs = world(seed, scenario="steady", hours=24 * 28)
        for position, m in enumerate(roster):
            halves = []
            for first in (H0, H0 + 24 * 14):
                totals = dict.fromkeys(generator.ERROR_CODES, 0)
                for h in range(first, first + 24 * 14):
                    for code, n in docs[position, h]["errors_by_code"].items():
                        totals[code] += n
                failed = sum(totals.values())
                halves.append({code: n / failed for code, n in totals.items()})
            for code, p in zip(generator.ERROR_CODES, m.code_mix):
                sd = (p * (1 - p) / failed) ** 0.5
                assert abs(halves[0][code] - halves[1][code]) < 4 * 2 ** 0.5 * sd + 0.005, (seed, m.merchant_id, code)
                assert abs(halves[0][code] - p) < 4 * sd + 0.005, (seed, m.merchant_id, code)
            assert halves[0]["declined"] > 0.55, (seed, m.merchant_id)


def test_latency_follows_load_and_the_provider():
    roster, _, docs = world(1729, merchants=40, scenario="steady", hours=24 * 7)
    for position, m in enumerate(roster):
        latencies = [docs[position, h]["latency_p95_ms"] for h in range(H0, H0 + 24 * 7)]
        assert 0.7 * m.latency_ms < min(latencies) and max(latencies) < 1.4 * m.latency_ms
        level = m.latency_ms / generator.provider_latency(1729, m.payment_provider)
        assert generator.LATENCY_MS[0] <= level <= generator.LATENCY_MS[1]
    # The daily load: a merchant's busiest hour is slower than its quietest.
    m = roster[0]
    by_hour = {}
    for h in range(H0, H0 + 24 * 7):
        by_hour.setdefault(generator.local_hour(h, m.utc_offset_minutes), []).append(docs[0, h]["latency_p95_ms"])
    assert statistics.fmean(by_hour[12]) > 1.25 * statistics.fmean(by_hour[3])


# --- each kind moves what it declares, and nothing else -------------------------------------


@pytest.fixture(scope="module", params=[1729, -8])
def month(request):
    """30 merchants over 4 weeks: incidents, and steady (the same world without them)."""
    roster, schedule, docs = world(request.param, merchants=30, hours=4 * 168)
    _, _, steady = world(request.param, merchants=30, hours=4 * 168, scenario="steady")
    return roster, schedule, docs, steady


def plateau(incident):
    return [h for h in range(incident.plateau_start, incident.recovery_start) if H0 <= h < H0 + 4 * 168]


def shares(doc) -> dict:
    failed = doc["failed_transactions"]
    return {code: n / failed for code, n in doc["errors_by_code"].items()} if failed else {}


def test_every_kind_declares_its_evidence():
    for kind in catalog.KINDS:
        assert set(kind.error_codes) <= set(generator.ERROR_CODES), kind.name
        assert bool(kind.error_codes) == bool(kind.errors), kind.name  # extra failures always have codes
        assert kind.channel in catalog.CHANNEL_EFFECTS
        assert kind.latency_factor is None or kind.latency_ms is None
    effects = {kind.name: (kind.error_codes, bool(kind.latency_factor or kind.latency_ms), kind.channel)
               for kind in catalog.KINDS if kind.scope != "chronic"}
    assert effects == {
        "payment_outage": (("provider_unavailable",), True, "both"),
        "gateway_timeouts": (("timeout",), True, "both"),
        "checkout_regression": ((), False, "one"),
        "location_feed_loss": ((), False, "both"),
        "traffic_drop": ((), False, "both"),
        "promo_surge": ((), False, "both"),
        "maintenance_window": ((), False, "both"),
    }


def test_at_every_plateau_the_declared_evidence_moves_and_nothing_else(month):
    roster, schedule, docs, steady = month
    seen = set()
    for incident in schedule.acute(H0, H0 + 4 * 168):
        kind = incident.kind
        for h in plateau(incident):
            for position in incident.positions:
                doc, usual, m = docs[position, h], steady[position, h], roster[position]
                if len(schedule.at(h).get(position, ())) > 1:
                    continue  # another incident on top (none in the catalog's placement)
                seen.add(kind.name)
                # Latency: toward its level where declared, else exactly the usual.
                if kind.latency_factor:
                    assert doc["latency_p95_ms"] > 2.0 * usual["latency_p95_ms"], (incident.incident_id, h)
                elif kind.latency_ms:
                    assert abs(doc["latency_p95_ms"] - incident.latency_ms) <= 0.16 * incident.latency_ms
                    assert doc["latency_p95_ms"] > 1.6 * usual["latency_p95_ms"]
                else:
                    assert doc["latency_p95_ms"] == usual["latency_p95_ms"]
                # Codes: the incident's extra failures carry its code; where errors rose, it leads.
                if kind.error_codes and doc["error_rate"] >= usual["error_rate"] + 10:
                    (code,) = kind.error_codes
                    mix = m.code_mix[generator.ERROR_CODES.index(code)]
                    assert shares(doc)[code] > 0.4 > mix + 0.2, (incident.incident_id, h)
                    assert max(shares(doc), key=shares(doc).get) == code
                elif not kind.error_codes and doc["failed_transactions"] >= 50:
                    # The merchant's normal mix, within binomial noise of its own shares.
                    for code, share in shares(doc).items():
                        p = m.code_mix[generator.ERROR_CODES.index(code)]
                        assert abs(share - p) < 4 * (p * (1 - p) / doc["failed_transactions"]) ** 0.5 + 0.01
                # Channels: one channel keeps its usual hour; both: the usual app share.
                web, app = doc["channels"]["web"], doc["channels"]["app"]
                if incident.channel is not None:
                    # The other channel keeps its usual hour as far as the totals allow: where the
                    # plateau's few transactions are fewer than it usually has, it takes them all.
                    name = "app" if incident.channel == "web" else "web"
                    other, hit = doc["channels"][name], doc["channels"][incident.channel]
                    if usual["channels"][name]["transactions"] <= doc["transaction_count"]:
                        assert other == usual["channels"][name], (incident.incident_id, h)
                    else:
                        assert (other["transactions"], hit["transactions"]) == (doc["transaction_count"], 0)
                    before = usual["channels"][incident.channel]
                    assert hit["transactions"] / hit["sessions"] < 0.8 * before["transactions"] / before["sessions"]
                    assert hit["transactions"] / hit["sessions"] < 0.6 * other["transactions"] / other["sessions"]
                else:
                    share = app["sessions"] / doc["sessions"]
                    assert abs(share - m.app_share) < 4 * (m.app_share * (1 - m.app_share) / doc["sessions"]) ** 0.5
                if not kind.sessions:
                    assert doc["sessions"] == usual["sessions"]
                elif abs(doc["sessions"] - usual["sessions"]) > 0.1 * usual["sessions"]:  # else near the floor of 200
                    assert (web["sessions"] < usual["channels"]["web"]["sessions"]) == (kind.sessions[1] < 1)
                    assert (app["sessions"] < usual["channels"]["app"]["sessions"]) == (kind.sessions[1] < 1)
    assert seen == set(catalog.ACUTE_KINDS)


def test_checkout_regressions_hit_both_channels_across_incidents(month):
    """The channel is drawn per incident: over four weeks and two seeds both occur."""
    _, schedule, _, _ = month
    channels = {incident.channel for incident in schedule.acute(H0, H0 + 4 * 168)
                if incident.kind.name == "checkout_regression"}
    assert channels == {"web", "app"}


def test_the_oracle_specifies_the_volume_model_too():
    """HourlyLines with volume noise against tests/oracle.py, to the byte, in and out of incidents."""
    cfg = Config(seed=99, merchants=24, scenario="incidents")
    roster = generator.roster(cfg.seed, cfg.merchants)
    schedule = incidents.schedule(cfg, roster)
    docs = lines(roster, schedule, 2 * 168, noise="volume")
    checked = 0
    for (position, h), doc in docs.items():
        assert json.dumps(doc, separators=(",", ":")) == oracle.source_line(roster[position], h, schedule,
                                                                          noise="volume"), (position, h)
        checked += bool(schedule.at(h).get(position))
    assert checked > 200


def test_the_schedule_gives_the_noise_model_and_steady_keeps_uniform():
    cfg = Config(seed=5, merchants=6)
    roster = generator.roster(5, 6)
    schedule = incidents.schedule(cfg, roster)
    assert schedule.noise == "uniform"
    volume = incidents.Schedule(5, Scenario("x", "steady", noise="volume"), roster)
    hour = T0 + 5 * HOUR
    assert generator.HourlyLines(roster, "i", volume).lines(hour) == \
        generator.HourlyLines(roster, "i", schedule, noise="volume").lines(hour)
    assert generator.HourlyLines(roster, "i", volume).lines(hour) != generator.HourlyLines(roster, "i", schedule).lines(hour)
    with pytest.raises(ValueError, match="noise must be one of uniform, volume"):
        generator.HourlyLines(roster, "i", schedule, noise="loud")


# --- noise that follows volume ---------------------------------------------------------------


def spread(docs, position, hours) -> float:
    """The hour-to-hour spread of conversion (percentage points): the standard deviation of each
    hour's distance from the mean of the hours either side, so the slow drift drops out."""
    rates = {h: docs[position, h]["conversion_rate"] for h in hours}
    return statistics.pstdev([rates[h] - (rates[h - 1] + rates[h + 1]) / 2
                              for h in hours if h - 1 in rates and h + 1 in rates])


def test_a_small_merchant_is_visibly_noisier_than_a_large_one_with_volume_noise():
    """Two merchants alike but for their size, flat daily shape, business hours of a fortnight:
    about 200 and about 10,000 sessions an hour."""
    base = dataclasses.replace(generator.merchant(1729, 1), shape="flat", weekday_demand=(1.0,) * 7)
    small = dataclasses.replace(base, peak_sessions=230.0)
    large = dataclasses.replace(base, k=2, merchant_id="merchant_002", peak_sessions=11_000.0)
    schedule = incidents.Schedule(1729, Scenario("steady", "steady"), [small, large])
    start = datetime(2026, 10, 5, tzinfo=timezone.utc)
    hours = [h for h in range(generator.hour_index(start), generator.hour_index(start) + 14 * 24)
             if 9 <= generator.local_hour(h, base.utc_offset_minutes) < 18]
    volume = lines([small, large], schedule, 14 * 24, start, noise="volume")
    sizes = [statistics.fmean(volume[p, h]["sessions"] for h in hours) for p in (0, 1)]
    assert 180 < sizes[0] < 240 and 9_000 < sizes[1] < 11_500
    noisy, calm = spread(volume, 0, hours), spread(volume, 1, hours)
    assert noisy > 3.0 and calm < 1.0 and noisy > 4 * calm
    # The uniform model of steady and incidents: the same spread whatever the size.
    uniform = lines([small, large], schedule, 14 * 24, start, noise="uniform")
    assert 0.5 < spread(uniform, 0, hours) / spread(uniform, 1, hours) < 2.0


def test_volume_noise_has_daily_shapes_a_conversion_curve_weekends_and_holidays():
    roster, _, docs = world(1729, merchants=60, scenario="steady", hours=24 * 28, noise="volume")
    assert {m.shape for m in roster} == set(generator.DAILY_SHAPES)
    for position, m in enumerate(roster):
        by_hour = {}
        for h in range(H0, H0 + 24 * 28):
            by_hour.setdefault(generator.local_hour(h, m.utc_offset_minutes), []).append(docs[position, h])
        sessions = {hour: statistics.fmean(d["sessions"] for d in found) for hour, found in by_hour.items()}
        peak = max(sessions, key=sessions.get)
        assert peak in {"business": range(9, 17), "evening": range(18, 23), "flat": range(11, 21)}[m.shape], m.shape
        conversion = {hour: statistics.fmean(d["conversion_rate"] for d in found) for hour, found in by_hour.items()}
        assert conversion[20] > conversion[4], m.merchant_id  # buying in the evening, browsing at night
    # A holiday: Christmas (a Friday) in London, against the two Fridays before.
    london = dataclasses.replace(generator.merchant(1729, 1), city="London", country="United Kingdom",
                                 utc_offset_minutes=0, shape="flat")
    schedule = incidents.Schedule(1729, Scenario("steady", "steady"), [london])
    start = datetime(2026, 12, 11, tzinfo=timezone.utc)
    docs = lines([london], schedule, 15 * 24, start, noise="volume")
    day = {d: sum(docs[0, generator.hour_index(start) + 24 * d + i]["sessions"] for i in range(24)) for d in (0, 7, 14)}
    assert day[14] < 0.7 * day[0] and day[14] < 0.7 * day[7]
    # Business merchants are quieter at weekends.
    business = dataclasses.replace(london, shape="business", weekday_demand=(1.0,) * 7)
    docs = lines([business], incidents.Schedule(1729, Scenario("steady", "steady"), [business]), 14 * 24,
                 datetime(2026, 10, 5, tzinfo=timezone.utc), noise="volume")
    first = generator.hour_index(datetime(2026, 10, 5, tzinfo=timezone.utc))  # a Monday
    week = [sum(docs[0, first + 24 * d + i]["sessions"] for i in range(24)) for d in range(7)]
    assert max(week[5:]) < 0.8 * min(week[:5])
