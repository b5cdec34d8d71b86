"""Remediations shape the generated data: held incidents, fixes from the next hour, determinism. Pure."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta, timezone

import pytest

import data_generator
import generator
import incidents
from config import Config, HourRange

HOUR = timedelta(hours=1)
DAY1 = datetime(2026, 11, 16, tzinfo=timezone.utc)
ONSET = DAY1 + 6 * HOUR  # closed-loop.json: checkout_regression on merchant_001, ramp 1, plateau 6, recovery 1
ON = Config(scenario="closed-loop.json", remediation=True)


def at(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def fix(moment, action="rollback_release", merchant="merchant_001", provider=None, _id=None):
    target = {"payment_provider": provider} if provider else {"merchant_id": merchant}
    return {"_id": _id or f"{provider or merchant}-{action}-{moment:%Y%m%d%H}",
            "_source": {**target, "action": action, "timestamp": at(moment)}}


class Store:
    """The remediations index: answers a range search on timestamp, and counts the searches."""

    def __init__(self, hits=()):
        self.hits = list(hits)
        self.searches = []

    def __call__(self, start: str, end: str) -> list:
        self.searches.append((start, end))
        return [hit for hit in self.hits if start <= hit["_source"]["timestamp"] < end]


def lines(cfg: Config, start: datetime, hours: int, store=None) -> list:
    """The data index's (action, source) lines a run over the hours writes."""
    out = io.StringIO()
    data_generator.run(cfg, HourRange(start, start + hours * HOUR), data_generator.NdjsonWriter(out), read_remediations=store)
    text = out.getvalue().splitlines()
    return [(a, s) for a, s in zip(text[::2], text[1::2]) if '"_index":"pp-merchantai",' in a]


def merchant_docs(cfg: Config, merchant: str, start: datetime, hours: int, store=None) -> list:
    return [json.loads(s) for a, s in lines(cfg, start, hours, store) if f'"_id":"{merchant}-' in a]


def test_a_fix_starts_the_recovery_at_the_next_hour_and_nothing_before_it_changes():
    held = merchant_docs(ON, "merchant_001", DAY1, 48, Store())
    fixed = merchant_docs(ON, "merchant_001", DAY1, 48, Store([fix(ONSET + 3 * HOUR)]))
    steady = merchant_docs(Config(), "merchant_001", DAY1, 48)
    conversion = [[d["conversion_rate"] for d in docs] for docs in (held, fixed, steady)]
    # Up to the hour of the fix (09:00) nothing differs from the held incident.
    assert fixed[:10] == held[:10]
    # 10:00, the recovery ramp's one hour: half way between the plateau and normal.
    assert conversion[0][10] < conversion[1][10] < conversion[2][10]
    # From 11:00 on, the incident is over: the steady world's values.
    assert fixed[11:] == steady[11:]
    # Left alone it stays on its plateau (5-30 %) to the end of the two days.
    assert all(5 <= c <= 30 for c in conversion[0][7:])
    assert all(30 <= c <= 80 for c in conversion[2])


def test_with_remediation_off_the_incident_ends_as_planned_and_remediations_are_not_read():
    off = Config(scenario="closed-loop.json")
    planned = merchant_docs(off, "merchant_001", DAY1, 24)
    steady = merchant_docs(Config(), "merchant_001", DAY1, 24)
    # Onset 06:00, plateau 07:00-12:59, recovery 13:00, over from 14:00.
    assert planned[:6] == steady[:6] and planned[14:] == steady[14:]
    assert all(planned[h] != steady[h] for h in range(6, 14))
    record = next(r for r in incidents.answer_key(off, HourRange(DAY1, DAY1 + 24 * HOUR))[0]
                  if r["kind"] == "checkout_regression")
    assert (record["recovery_start"], record["end"]) == ("2026-11-16T13:00:00Z", "2026-11-16T14:00:00Z")
    assert "resolved_by" not in record


def test_every_hour_depends_only_on_the_remediations_before_it():
    remediations = [fix(ONSET + 3 * HOUR), fix(DAY1 + 16 * HOUR, "failover_payment_provider", provider="cardwise"),
                    fix(DAY1 + 29 * HOUR, "fix_dns_record", merchant="merchant_004")]
    whole = lines(ON, DAY1, 36, Store(remediations))
    assert lines(ON, DAY1, 36, Store(remediations)) == whole  # regenerated: byte-identical
    for i in range(36):
        hour = DAY1 + i * HOUR
        earlier = Store([r for r in remediations if r["_source"]["timestamp"] < at(hour)])
        assert lines(ON, hour, 1, Store(remediations)) == lines(ON, hour, 1, earlier) == whole[20 * i:20 * i + 20]


def test_one_search_bounded_back_to_the_onset_of_what_may_still_run():
    store = Store()
    lines(ON, DAY1 + 40 * HOUR, 1, store)  # 2026-11-17T16:00: all three incidents held since their onsets
    assert store.searches == [("2026-11-16T06:00:00Z", "2026-11-17T17:00:00Z")]
    store = Store()
    lines(Config(scenario="closed-loop.json", remediation=True), DAY1 + 2 * HOUR, 1, store)  # before any
    assert store.searches == [("2026-11-16T01:00:00Z", "2026-11-16T03:00:00Z")]


def test_the_answer_key_records_the_fix_the_wrong_action_and_the_unmatched_one():
    store = Store([
        fix(ONSET + 1 * HOUR, "fix_dns_record", _id="w1"),  # wrong for a checkout regression
        fix(ONSET + 3 * HOUR, _id="r1"),
        fix(DAY1 + 2 * HOUR, "rollback_release", merchant="merchant_002", _id="o1"),  # nothing active there
    ])
    records, skipped = incidents.answer_key(ON, HourRange(DAY1, DAY1 + 24 * HOUR), store)
    assert skipped == []
    regression = next(r for r in records if r["kind"] == "checkout_regression")
    assert {k: regression[k] for k in ("recovery_start", "end", "resolved_by", "resolved_at", "remediation_id",
                                       "wrong_actions")} == {
        "recovery_start": "2026-11-16T10:00:00Z", "end": "2026-11-16T11:00:00Z", "resolved_by": "remediation",
        "resolved_at": "2026-11-16T09:00:00Z", "remediation_id": "r1",
        "wrong_actions": [{"remediation_id": "w1", "action": "fix_dns_record", "timestamp": "2026-11-16T07:00:00Z",
                           "merchant_id": "merchant_001"}],
    }
    outage = next(r for r in records if r["kind"] == "payment_outage")
    assert {k: outage[k] for k in ("recovery_start", "resolved_by", "resolved_at", "remediation_id")} == {
        "recovery_start": "2026-11-23T15:00:00Z", "resolved_by": "timeout", "resolved_at": "2026-11-23T15:00:00Z",
        "remediation_id": None}
    assert records[-1] == {
        "incident_id": "unmatched_action-o1", "kind": "unmatched_action", "is_issue": False, "issues": [],
        "merchant_ids": ["merchant_002"], "onset": "2026-11-16T02:00:00Z", "end": "2026-11-16T03:00:00Z",
        "remediation": [], "scenario": "closed-loop.json", "seed_digest": "98b1690510df", "resolved_by": None, "resolved_at": None,
        "remediation_id": None,
        "wrong_actions": [{"remediation_id": "o1", "action": "rollback_release", "timestamp": "2026-11-16T02:00:00Z",
                           "merchant_id": "merchant_002"}],
    }


def test_a_fix_during_the_onset_ramp_ramps_down_from_the_share_reached(tmp_path):
    path = tmp_path / "ramp.json"
    path.write_text(json.dumps({"incidents": [{"kind": "traffic_drop", "merchants": ["merchant_002"],
                                               "start": at(ONSET), "hours": 4, "ramp_hours": 3, "recovery_hours": 2}]}))
    cfg = Config(scenario=str(path), remediation=True)
    schedule = incidents.schedule(cfg)
    incidents.remediate(schedule, HourRange(ONSET, ONSET + HOUR), Store([fix(ONSET, "fix_dns_record",
                                                                                  merchant="merchant_002")]))
    h = generator.hour_index(ONSET)
    shares = [[share for _, share in schedule.at(h + i).get(1, [])] for i in range(5)]
    # 1/4 at the onset; then 1/4 x 2/3 and 1/4 x 1/3 on the 2-hour recovery; then over.
    assert shares == [[0.25], [0.25 * (1 - 1 / 3)], [0.25 * (1 - 2 / 3)], [], []]


def test_an_incident_that_requires_no_action_ends_as_planned_but_a_fix_still_ends_it_early(tmp_path):
    path = tmp_path / "optional.json"
    spec = {"kind": "checkout_regression", "merchants": ["merchant_001"], "start": at(ONSET), "hours": 6,
            "requires_action": False}
    path.write_text(json.dumps({"incidents": [spec]}))
    cfg = Config(scenario=str(path), remediation=True)
    hours = HourRange(DAY1, DAY1 + 24 * HOUR)
    def regression(store):
        (record,) = [r for r in incidents.answer_key(cfg, hours, store)[0] if r["kind"] == "checkout_regression"]
        return record

    record = regression(Store())
    assert (record["end"], record["resolved_by"]) == ("2026-11-16T14:00:00Z", None)
    record = regression(Store([fix(ONSET + 2 * HOUR)]))
    assert (record["end"], record["resolved_by"], record["resolved_at"]) == (
        "2026-11-16T10:00:00Z", "remediation", "2026-11-16T08:00:00Z")


def test_look_alikes_are_never_held():
    cfg = Config(scenario="incidents", remediation=True)
    week = 2935 * incidents.WEEK_HOURS  # 2026-11-19T00:00, a Thursday
    held, planned = incidents.schedule(cfg), incidents.schedule(Config(scenario="incidents"))
    benign = [i for i in planned.acute(week, week + 168) if not i.kind.is_issue]
    assert benign and [(i.incident_id, i.end) for i in benign] == [
        (i.incident_id, i.end) for i in held.acute(week, week + 168) if not i.kind.is_issue]


@pytest.mark.parametrize("seed", [1729, 7])
def test_a_held_catalog_incident_runs_on_into_the_following_weeks(seed):
    cfg = Config(seed=seed, scenario="incidents", remediation=True)
    week = 2935 * incidents.WEEK_HOURS
    schedule = incidents.schedule(cfg)
    planned = incidents.schedule(Config(seed=seed, scenario="incidents"))
    acute = [i for i in planned.acute(week, week + 168) if i.kind.is_issue and week <= i.onset]
    assert acute
    for incident in acute:
        last = incident.onset + 167  # its last hour on the plateau: in the next week
        active = schedule.at(last)
        assert all((incident.incident_id, 1.0) in [(i.incident_id, share) for i, share in active[position]]
                   for position in incident.positions)
        held = next(i for i in schedule.acute(last, last + 1) if i.incident_id == incident.incident_id)
        assert (held.recovery_start, held.end) == (incident.onset + 168, incident.onset + 168 + incident.end
                                                   - incident.recovery_start)
