"""Remediations, pure: parsing the AI's documents and what they do to incidents (hand-built cases)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

import remediations
from remediations import Outcome, Span

# 2026-12-01T00:00:00Z in hours since the epoch.
DEC1 = 498_912


def hit(_id, **source):
    return {"_id": _id, "_source": source}


def parse(hits) -> tuple[list, list]:
    """What the hourly run makes of hits it is the first to see (seen at hour 1: every claim stands)."""
    parsed, skipped, _ = remediations.reconcile(hits, [], 1, 0, 10**7)
    return parsed, skipped


def test_the_epoch_hour_used_below():
    assert datetime(2026, 12, 1, tzinfo=timezone.utc).timestamp() / 3600 == DEC1


def test_parse_reads_both_targets_and_orders_by_timestamp_then_id():
    parsed, skipped = parse([
        hit("b", merchant_id="merchant_003", action="rollback_release", timestamp="2026-12-01T10:00:00Z"),
        hit("c", payment_provider="Stripe", action="failover_payment_provider", timestamp="2026-12-01T09:00:00Z",
            incident_id="my-ticket-7", note="errors on every Stripe merchant"),
        hit("a", merchant_id="merchant_001", action="fix_dns_record", timestamp="2026-12-01T10:00:00Z"),
    ])
    assert skipped == []
    assert [(r.id, r.hour - DEC1, r.merchant_id, r.payment_provider, r.action) for r in parsed] == [
        ("c", 9, None, "Stripe", "failover_payment_provider"),
        ("a", 10, "merchant_001", None, "fix_dns_record"),
        ("b", 10, "merchant_003", None, "rollback_release"),
    ]


def test_a_timestamp_inside_an_hour_or_with_an_offset_acts_in_that_utc_hour():
    parsed, _ = parse([
        hit("x", merchant_id="merchant_001", action="a", timestamp="2026-12-01T12:59:59+02:00"),
        hit("y", merchant_id="merchant_001", action="a", timestamp="2026-12-01T10:30:00"),
    ])
    # 10:30 UTC (naive = UTC) sorts before 10:59:59 UTC; both act in data hour 10.
    assert [(r.id, r.hour - DEC1, r.time.isoformat()) for r in parsed] == [
        ("y", 10, "2026-12-01T10:30:00+00:00"),
        ("x", 10, "2026-12-01T10:59:59+00:00"),
    ]


@pytest.mark.parametrize("source, reason", [
    ({"action": "a", "timestamp": "2026-12-01T10:00:00Z"},
     "exactly one of merchant_id or payment_provider is required"),
    ({"merchant_id": "merchant_001", "payment_provider": "Stripe", "action": "a", "timestamp": "2026-12-01T10:00:00Z"},
     "exactly one of merchant_id or payment_provider is required"),
    ({"merchant_id": 7, "action": "a", "timestamp": "2026-12-01T10:00:00Z"}, "merchant_id must be a non-empty string"),
    ({"payment_provider": "", "action": "a", "timestamp": "2026-12-01T10:00:00Z"},
     "payment_provider must be a non-empty string"),
    ({"merchant_id": "merchant_001", "timestamp": "2026-12-01T10:00:00Z"}, "action must be a non-empty string"),
    ({"merchant_id": "merchant_001", "action": ["a"], "timestamp": "2026-12-01T10:00:00Z"},
     "action must be a non-empty string"),
    ({"merchant_id": "merchant_001", "action": "a"}, "timestamp is missing"),
    ({"merchant_id": "merchant_001", "action": "a", "timestamp": "yesterday"},
     "timestamp is not an ISO 8601 time: 'yesterday'"),
    ({"merchant_id": "merchant_001", "action": "a", "timestamp": 1764583200},
     "timestamp must be an ISO 8601 string, got int"),
    ({"merchant_id": "merchant_001", "action": "a", "timestamp": "2026-12-01T10:00:00Z", "incident_id": {"x": 1}},
     "incident_id must be a string"),
    ("not an object", "the document is not a JSON object"),
])
def test_a_malformed_document_is_skipped_with_its_id_and_reason(source, reason):
    good = hit("ok", merchant_id="merchant_001", action="a", timestamp="2026-12-01T10:00:00Z")
    parsed, skipped = parse([{"_id": "bad-1", "_source": source}, good])
    assert [r.id for r in parsed] == ["ok"]
    assert skipped == [remediations.Skipped("bad-1", reason)]


def test_fields_the_bench_does_not_read_are_no_part_of_the_document():
    # The run asks only for ledger.REMEDIATION_FIELDS: a note of any type, or an unknown field, is never seen.
    plain = hit("x", merchant_id="merchant_001", action="a", timestamp="2026-12-01T10:00:00Z")
    noisy = hit("x", **plain["_source"], note=3, confidence=0.9, merchant="merchant_002")
    assert parse([noisy]) == parse([plain]) and parse([plain])[1] == []


# --- what remediations do to incidents ---------------------------------------------------

ONSET = DEC1 + 10


def merchant_span(incident_id="inc-m3", merchants=("merchant_003",), accepted=("rollback_release",),
                  persistent=True, onset=ONSET, recovery_start=ONSET + 8, recovery_hours=3):
    return Span(incident_id, merchants, None, onset, recovery_start, recovery_hours, accepted, persistent)


OUTAGE = Span("inc-stripe", ("merchant_002", "merchant_003", "merchant_009"), "Stripe", ONSET, ONSET + 6, 2,
              ("failover_payment_provider",), True)


def act(_id, hours_after_onset, action, merchant=None, provider=None):
    target = {"merchant_id": merchant} if merchant else {"payment_provider": provider}
    hour = ONSET + hours_after_onset
    stamp = datetime.fromtimestamp(hour * 3600, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return remediations.Remediation(_id, datetime.fromisoformat(stamp), hour, action, **target)


def test_left_alone_a_persistent_incident_recovers_by_itself_after_seven_days():
    outcomes, orphans = remediations.apply([merchant_span()], [])
    # 10:00 on Dec 1 + 168 h = 10:00 on Dec 8; a 3-hour recovery ends at 13:00.
    assert outcomes == {"inc-m3": Outcome(DEC1 + 178, DEC1 + 181, "timeout", DEC1 + 178, None)}
    assert orphans == []


def test_a_persistent_incident_planned_longer_than_the_cap_ends_as_planned():
    span = merchant_span(recovery_start=ONSET + 200)
    outcomes, _ = remediations.apply([span], [])
    assert outcomes["inc-m3"] == Outcome(DEC1 + 210, DEC1 + 213, "timeout", DEC1 + 210, None)


def test_an_incident_that_needs_no_action_ends_as_planned_and_is_resolved_by_nobody():
    outcomes, _ = remediations.apply([merchant_span(persistent=False)], [])
    assert outcomes["inc-m3"] == Outcome(DEC1 + 18, DEC1 + 21, None, None, None)


def test_an_accepted_action_in_scope_starts_the_recovery_at_the_next_hour():
    fix = act("r1", 30, "rollback_release", merchant="merchant_003")
    outcomes, orphans = remediations.apply([merchant_span()], [fix])
    # Acted at 16:00 on Dec 2 (onset + 30 h): recovery from 17:00 for 3 hours.
    assert outcomes["inc-m3"] == Outcome(DEC1 + 41, DEC1 + 44, "remediation", DEC1 + 40, "r1")
    assert orphans == []


def test_a_fix_shortens_an_incident_that_needs_no_action_too():
    fix = act("r1", 2, "rollback_release", merchant="merchant_003")
    outcomes, _ = remediations.apply([merchant_span(persistent=False)], [fix])
    assert outcomes["inc-m3"] == Outcome(DEC1 + 13, DEC1 + 16, "remediation", DEC1 + 12, "r1")


def test_a_fix_during_the_onset_ramp_counts_from_the_next_hour():
    fix = act("r1", 0, "rollback_release", merchant="merchant_003")
    outcomes, _ = remediations.apply([merchant_span()], [fix])
    assert outcomes["inc-m3"] == Outcome(DEC1 + 11, DEC1 + 14, "remediation", DEC1 + 10, "r1")


def test_a_wrong_action_changes_nothing_and_is_recorded_then_the_right_one_fixes():
    wrong = act("r1", 3, "fix_dns_record", merchant="merchant_003")
    right = act("r2", 5, "rollback_release", merchant="merchant_003")
    outcomes, orphans = remediations.apply([merchant_span()], [wrong, right])
    assert outcomes["inc-m3"] == Outcome(DEC1 + 16, DEC1 + 19, "remediation", DEC1 + 15, "r2", (wrong,))
    assert orphans == []


def test_only_wrong_actions_leave_it_running_to_its_cap():
    wrong = [act("r1", 3, "fix_dns_record", merchant="merchant_003"),
             act("r2", 100, "raise_gateway_timeout", merchant="merchant_003")]
    outcomes, _ = remediations.apply([merchant_span()], wrong)
    assert outcomes["inc-m3"] == Outcome(DEC1 + 178, DEC1 + 181, "timeout", DEC1 + 178, None, tuple(wrong))


def test_provider_outage_is_fixed_at_the_provider_not_at_one_merchant():
    at_merchant = act("r1", 1, "failover_payment_provider", merchant="merchant_009")
    at_provider = act("r2", 2, "failover_payment_provider", provider="Stripe")
    outcomes, orphans = remediations.apply([OUTAGE], [at_merchant, at_provider])
    # The right action at the wrong level is wrong; the provider-wide one fixes it.
    assert outcomes["inc-stripe"] == Outcome(DEC1 + 13, DEC1 + 15, "remediation", DEC1 + 12, "r2", (at_merchant,))
    assert orphans == []


def test_an_action_on_another_provider_is_an_orphan():
    other = act("r1", 1, "failover_payment_provider", provider="Adyen")
    outcomes, orphans = remediations.apply([OUTAGE], [other])
    assert outcomes["inc-stripe"] == Outcome(DEC1 + 178, DEC1 + 180, "timeout", DEC1 + 178, None)
    assert orphans == [other]


def test_actions_before_the_onset_after_the_end_or_on_another_merchant_are_orphans():
    before = act("r1", -1, "rollback_release", merchant="merchant_003")
    other = act("r2", 4, "rollback_release", merchant="merchant_004")
    fix = act("r3", 5, "rollback_release", merchant="merchant_003")
    after = act("r4", 9, "rollback_release", merchant="merchant_003")  # recovery 16..19, then ended
    outcomes, orphans = remediations.apply([merchant_span()], [before, other, fix, after])
    assert outcomes["inc-m3"] == Outcome(DEC1 + 16, DEC1 + 19, "remediation", DEC1 + 15, "r3")
    assert orphans == [before, other, after]


def test_an_accepted_action_once_recovery_began_is_neither_a_fix_nor_wrong():
    fix = act("r1", 5, "rollback_release", merchant="merchant_003")
    same_hour = act("r2", 5, "rollback_release", merchant="merchant_003")
    during_recovery = act("r3", 7, "rollback_release", merchant="merchant_003")
    outcomes, orphans = remediations.apply([merchant_span()], [fix, same_hour, during_recovery])
    assert outcomes["inc-m3"] == Outcome(DEC1 + 16, DEC1 + 19, "remediation", DEC1 + 15, "r1")
    assert orphans == []


def test_an_action_on_a_planned_recovery_ramp_does_not_restart_it():
    late = act("r1", 9, "rollback_release", merchant="merchant_003")  # planned recovery 18..21
    outcomes, _ = remediations.apply([merchant_span(persistent=False)], [late])
    assert outcomes["inc-m3"] == Outcome(DEC1 + 18, DEC1 + 21, None, None, None)


def test_a_wrong_action_after_the_fix_but_before_the_recovery_is_still_recorded():
    fix = act("r1", 5, "rollback_release", merchant="merchant_003")
    wrong = act("r2", 5, "fix_dns_record", merchant="merchant_003")
    outcomes, _ = remediations.apply([merchant_span()], [fix, wrong])
    assert outcomes["inc-m3"] == Outcome(DEC1 + 16, DEC1 + 19, "remediation", DEC1 + 15, "r1", (wrong,))


def test_acting_on_a_benign_look_alike_changes_nothing_and_is_recorded():
    surge = merchant_span("inc-surge", accepted=(), persistent=False, recovery_start=ONSET + 5, recovery_hours=2)
    wrong = act("r1", 2, "fix_dns_record", merchant="merchant_003")
    outcomes, orphans = remediations.apply([surge], [wrong])
    assert outcomes["inc-surge"] == Outcome(DEC1 + 15, DEC1 + 17, None, None, None, (wrong,))
    assert orphans == []


def test_a_fix_for_one_incident_is_not_wrong_for_another_it_touches():
    regression = merchant_span()
    dns = merchant_span("inc-dns", accepted=("fix_dns_record",), recovery_hours=1)
    fix = act("r1", 4, "rollback_release", merchant="merchant_003")
    wrong = act("r2", 6, "raise_gateway_timeout", merchant="merchant_003")
    outcomes, orphans = remediations.apply([regression, dns], [fix, wrong])
    assert outcomes == {
        "inc-m3": Outcome(DEC1 + 15, DEC1 + 18, "remediation", DEC1 + 14, "r1", (wrong,)),
        "inc-dns": Outcome(DEC1 + 178, DEC1 + 179, "timeout", DEC1 + 178, None, (wrong,)),
    }
    assert orphans == []


def test_ties_in_one_hour_go_by_document_id():
    parsed, _ = parse([
        hit("zz", merchant_id="merchant_003", action="rollback_release", timestamp="2026-12-01T12:00:00Z"),
        hit("aa", merchant_id="merchant_003", action="rollback_release", timestamp="2026-12-01T12:00:00Z"),
    ])
    outcomes, _ = remediations.apply([merchant_span()], parsed)
    assert outcomes["inc-m3"].remediation_id == "aa"


def test_the_search_window_reaches_back_to_the_onset_of_whatever_may_still_run():
    held = merchant_span()  # held to its cap: recovers from onset + 168 h, ends at onset + 171 h
    short = merchant_span("inc-short", persistent=False, onset=ONSET + 2)  # ends at onset + 13 h
    later = merchant_span("inc-later", onset=ONSET + 300)
    spans = [held, short, later]
    # An hour 100 h after the onset: only the held incident may still run.
    assert remediations.search_window(spans, ONSET + 100, ONSET + 101) == (ONSET, ONSET + 101)
    # Its last hour, then the hour after every incident ends, and one before any starts.
    assert remediations.search_window(spans, ONSET + 170, ONSET + 171) == (ONSET, ONSET + 171)
    assert remediations.search_window(spans, ONSET + 171, ONSET + 172) == (ONSET + 171, ONSET + 172)
    assert remediations.search_window(spans, ONSET - 5, ONSET - 4) == (ONSET - 5, ONSET - 4)
    # A range reaching into the short one and the later one.
    assert remediations.search_window(spans, ONSET + 12, ONSET + 301) == (ONSET, ONSET + 301)
