"""The bench, not the AI, decides when things happened, and actions cost something (issue 16, parts 2
and 3). Pure cases here; the real engine in test_trust_engine.py."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

import incidents
import ledger
import remediations
from config import Config, HourRange
from grader import findings, scoring

HOUR = timedelta(hours=1)
DAY1 = datetime(2026, 11, 16, tzinfo=timezone.utc)
DAY1_H = 498_552  # hours since the epoch of DAY1
ONSET = DAY1 + 6 * HOUR  # closed-loop.json: checkout_regression on merchant_001
ON = Config(scenario="closed-loop.json", remediation=True)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def doc(_id, moment, action="rollback_release", merchant="merchant_001", **extra):
    return {"_id": _id, "_source": {"merchant_id": merchant, "action": action, "timestamp": stamp(moment), **extra}}


def test_the_epoch_hour_used_below():
    assert DAY1.timestamp() / 3600 == DAY1_H


# --- when a remediation acts ----------------------------------------------------------------------


def test_a_document_counts_from_its_claim_but_never_before_the_hour_before_the_run_that_saw_it():
    # Acting between runs: the claim (the last hour it saw) is the hour before the run that sees it.
    assert ledger.real_hour(DAY1_H + 5, DAY1_H + 6) == DAY1_H + 5
    # Back-dated 18 hours: it counts from the hour before the run that saw it.
    assert ledger.real_hour(DAY1_H, DAY1_H + 19) == DAY1_H + 18
    # A claim in the future is kept; no parsable claim counts from the hour before the run.
    assert ledger.real_hour(DAY1_H + 30, DAY1_H + 6) == DAY1_H + 30
    assert ledger.real_hour(None, DAY1_H + 6) == DAY1_H + 5


def test_a_seen_version_keeps_its_recorded_hour_and_a_rewrite_is_a_new_action_from_when_it_is_seen():
    first = doc("r1", ONSET)
    _, _, new = remediations.reconcile([first], [], DAY1_H + 25, DAY1_H, DAY1_H + 30)
    (seen,) = new
    assert {k: seen[k] for k in ("remediation_id", "seen_at", "claimed_at", "timestamp", "refused", "malformed")} == {
        "remediation_id": "r1", "seen_at": "2026-11-17T01:00:00Z", "claimed_at": "2026-11-16T06:00:00Z",
        "timestamp": "2026-11-17T00:00:00Z", "refused": None, "malformed": None}
    assert seen["incident_id"] == f"remediation_seen-{ledger.digest('r1', first['_source'])}"
    # A later run, and a re-run of an earlier range, find it recorded: nothing new, the same hour.
    for run_first in (DAY1_H + 40, DAY1_H + 2):
        parsed, _, again = remediations.reconcile([first], new, run_first, DAY1_H, DAY1_H + 60)
        assert again == [] and [(r.id, r.hour - DAY1_H, r.claim - DAY1_H) for r in parsed] == [("r1", 24, 6)]
    # Rewritten with an earlier timestamp: a second act, from the hour before the run that reads it.
    rewritten = doc("r1", ONSET - 5 * HOUR)
    parsed, _, again = remediations.reconcile([rewritten], new, DAY1_H + 40, DAY1_H, DAY1_H + 60)
    assert [(r.id, r.hour - DAY1_H) for r in parsed] == [("r1", 24), ("r1", 39)]
    assert [r["timestamp"] for r in again] == ["2026-11-17T15:00:00Z"]


def test_the_note_and_fields_the_bench_does_not_read_are_no_part_of_a_version():
    plain = doc("r1", ONSET)
    noted = doc("r1", ONSET, note="x" * 10_000, flavour="hostile")
    project = [ledger.project(d["_source"], ledger.REMEDIATION_FIELDS) for d in (plain, noted)]
    assert project[0] == project[1]
    assert ledger.digest("r1", project[0]) != ledger.digest("r2", project[0])


def test_of_a_document_larger_than_its_limit_a_run_keeps_its_id_digest_and_claim_and_records_it_alike():
    plain = doc("r1", ONSET)
    assert ledger.kept(plain, ledger.REMEDIATION_FIELDS) is plain
    wide = doc("wide", ONSET, action="a" * 100_000)
    kept = ledger.kept(wide, ledger.REMEDIATION_FIELDS)
    assert kept == {"_id": "wide", "_source": {"timestamp": "2026-11-16T06:00:00Z"},
                    "too_large": "larger than 4096 bytes",
                    "digest": ledger.digest("wide", ledger.project(wide["_source"], ledger.REMEDIATION_FIELDS))}
    (whole,), (small,) = (remediations.reconcile([hit], [], DAY1_H + 9, DAY1_H, DAY1_H + 10)[2] for hit in (wide, kept))
    # The same version (a rewrite of it is a new one), the same hours; only the reason says why.
    assert whole["malformed"] == "action is longer than 128 bytes"
    assert small == {**whole, "malformed": "larger than 4096 bytes"}
    # A finding over its limit is recorded the same, kept or whole.
    finding = {"_id": "f", "_source": {"merchant_id": "merchant_001", "issue": "x" * 5000, "timestamp": stamp(ONSET)}}
    records = [ledger.new_findings(ledger.Seen(findings=[hit]), DAY1_H + 9)
               for hit in (finding, ledger.kept(finding, ledger.FINDING_FIELDS))]
    assert records[0] == records[1] and records[0][0]["malformed"] == "larger than 2048 bytes"


def test_at_most_fifty_new_documents_act_in_an_hour_the_rest_are_refused_and_count_as_wrong():
    hour = ONSET + 2 * HOUR
    earlier = remediations.reconcile([doc("old", hour, merchant="merchant_009")], [], DAY1_H + 9, DAY1_H,
                                     DAY1_H + 10)[2]
    burst = [doc(f"b{i:02d}", hour, merchant="merchant_002") for i in range(55)]
    parsed, _, new = remediations.reconcile(burst, earlier, DAY1_H + 9, DAY1_H, DAY1_H + 10)
    # One already acted in that hour: 49 of the burst act, by id, the last 6 are refused.
    refused = [r["remediation_id"] for r in new if r["refused"] == "rate_limit"]
    assert refused == [f"b{i:02d}" for i in range(49, 55)]
    assert sum(not r.refused for r in parsed) == 50
    # In the answer key: refused ones are the agent's wrong acts, with records of their own and no harm.
    records, _ = incidents.answer_key(ON, HourRange(DAY1, DAY1 + 24 * HOUR),
                                      lambda window: ledger.Seen(records=earlier + new))
    refused_records = [r for r in records if r.get("refused")]
    assert len(refused_records) == 6 and {r["kind"] for r in refused_records} == {"unmatched_action"}
    harmed = {r["remediation_id"] for r in records if r["kind"].endswith("_side_effect")}
    assert harmed.isdisjoint(refused) and len(harmed) == 50
    assert scoring.remediation_summary(records, [], DAY1_H, DAY1_H + 24)["wrong_actions"] == 56


# --- findings' times ----------------------------------------------------------------------------------


def test_a_findings_index_counts_each_document_at_its_recorded_hour_a_file_at_its_own():
    honest = {"_id": "f1", "_source": {"merchant_id": "merchant_001", "issue": "low_conversion",
                                       "timestamp": "2026-11-16T10:00:00Z"}}
    backdated = {"_id": "f2", "_source": {"merchant_id": "merchant_001", "issue": "low_conversion",
                                          "timestamp": "2026-11-16T06:00:00Z", "confidence": 0.9}}
    seen = ledger.Seen(findings=[honest])
    recorded = ledger.new_findings(seen, DAY1_H + 11)
    # f2 is first read by a run 12 hours later: it counts from 17:00, not from its claim.
    recorded += ledger.new_findings(ledger.Seen(findings=[honest, backdated], records=recorded), DAY1_H + 18)
    assert [(r["finding_id"], r["claimed_at"], r["timestamp"]) for r in recorded] == [
        ("f1", "2026-11-16T10:00:00Z", "2026-11-16T10:00:00Z"), ("f2", "2026-11-16T06:00:00Z", "2026-11-16T17:00:00Z")]
    unseen = ("f3", {"merchant_id": "merchant_001", "issue": "low_conversion", "timestamp": "2026-11-16T07:00:00Z"})
    parsed = findings.parse_documents([(h["_id"], h["_source"]) for h in (honest, backdated)] + [unseen], recorded)
    assert [(f.where, f.hour - DAY1_H) for f in parsed.usable] == [("document f1", 10), ("document f2", 17)]
    assert (parsed.times, parsed.unrecorded, parsed.problems) == (
        "recorded", 1, [("document f3", "unrecorded: no hourly run has seen it yet (FINDINGS_INDEX)")])
    assert findings.parse_lines(['{"merchant_id": "m", "issue": "low_conversion", "timestamp": "2026-11-16"}']
                                ).times == "self-reported"


def test_a_recorded_finding_counts_as_it_was_seen_deleted_or_rewritten_since_and_a_huge_one_is_malformed():
    first = {"merchant_id": "merchant_001", "issue": "low_conversion", "timestamp": "2026-11-16T10:00:00Z"}
    huge = {"merchant_id": "merchant_002", "issue": "low_conversion", "timestamp": "2026-11-16T10:00:00Z",
            "root_cause": {"category": "x" * 4000, "component": "y"}}
    recorded = ledger.new_findings(ledger.Seen(findings=[{"_id": "f1", "_source": first},
                                                         {"_id": "big", "_source": huge}]), DAY1_H + 11)
    assert recorded[0]["finding"] == first and "finding" not in recorded[1]
    assert recorded[1]["malformed"] == f"larger than {ledger.MAX_FINDING_BYTES} bytes"
    # Since then f1 was rewritten to another merchant (and no run has seen the rewrite), big deleted.
    now = [("f1", {**first, "merchant_id": "merchant_003"})]
    parsed = findings.parse_documents(now, recorded)
    assert [(f.where, f.merchant_id, f.hour - DAY1_H) for f in parsed.usable] == [("document f1", "merchant_001", 10)]
    assert parsed.problems == [("document big", "malformed: larger than 2048 bytes"),
                               ("document f1", "unrecorded: no hourly run has seen it yet (FINDINGS_INDEX)")]


# --- side effects ---------------------------------------------------------------------------------


@pytest.mark.parametrize("action, field, direction", [
    ("failover_payment_provider", "error_rate", 1), ("raise_gateway_timeout", "conversion_rate", -1),
    ("rollback_release", "conversion_rate", -1), ("fix_dns_record", "sessions", -1),
])
def test_an_action_where_nothing_needed_it_does_harm_for_some_hours_then_ends(action, field, direction):
    import data_generator

    hour = DAY1 + 2 * HOUR  # nothing active on merchant_002 that day
    records = remediations.reconcile([doc("x", hour, action, "merchant_002")], [], DAY1_H + 3, DAY1_H, DAY1_H + 3)[2]

    def value(cfg, i, read=None):
        (d,) = [d for d in data_generator.documents(cfg, DAY1 + i * HOUR, read) if d["merchant_id"] == "merchant_002"]
        return d.get(field)

    read = lambda window: ledger.Seen(records=records)  # noqa: E731
    assert value(ON, 2, read) == value(ON, 2)  # the hour it acted in: untouched
    # Its plateau (2 to 8 hours from 04:00) is worse in the direction of its harm; a day later, nothing.
    assert direction * (value(ON, 5, read) - value(ON, 5)) > 0
    assert value(ON, 20, read) == value(ON, 20)


def test_a_feed_restart_where_nothing_needed_it_loses_the_location_for_an_hour_or_two():
    import data_generator

    records = remediations.reconcile([doc("x", DAY1 + 2 * HOUR, "restore_location_feed", "merchant_002")], [],
                                     DAY1_H + 3, DAY1_H, DAY1_H + 3)[2]
    read = lambda window: ledger.Seen(records=records)  # noqa: E731
    located = ["location" in next(d for d in data_generator.documents(ON, DAY1 + i * HOUR, read)
                                  if d["merchant_id"] == "merchant_002") for i in range(2, 9)]
    assert located[0] and not located[1] and located[-1]


# --- the headline score ---------------------------------------------------------------------------


def record(incident_id, onset, resolved_at=None, wrong=(), kind="checkout_regression", merchant="merchant_001"):
    return {"incident_id": incident_id, "kind": kind, "is_issue": True, "issues": ["low_conversion"],
            "merchant_ids": [merchant], "onset": onset, "end": "2026-11-20T00:00:00Z", "remediation": ["x"],
            "resolved_by": "remediation" if resolved_at else "timeout", "resolved_at": resolved_at,
            "wrong_actions": [{"remediation_id": w, "action": "a", "timestamp": onset} for w in wrong]}


def test_mitigation_score_by_hand():
    a = record("a", "2026-11-16T06:00:00Z", "2026-11-16T06:00:00Z")  # fixed at its onset: 1
    b = record("b", "2026-11-16T10:00:00Z", "2026-11-16T22:00:00Z")  # 12 hours later: 0.5
    c = record("c", "2026-11-16T12:00:00Z", wrong=["w1", "w2"])  # never fixed, two wrong actions
    unmatched = {"incident_id": "u", "kind": "unmatched_action", "merchant_ids": [], "onset": "2026-11-16T13:00:00Z",
                 "end": "2026-11-16T14:00:00Z",
                 "wrong_actions": [{"remediation_id": "w3", "action": "a", "timestamp": "2026-11-16T13:00:00Z"}]}
    start, end = DAY1_H, DAY1_H + 48
    # (1 + 0.5 - 0.25 x 3 wrong) / 3 remediable = 0.25.
    assert scoring.mitigation_score([a, b, c, unmatched], start, end) == 25.0
    assert scoring.mitigation_score([a, b, c], start, end) == 33.33
    assert scoring.mitigation_score([a], start, end) == 100.0
    # Six hours: 0.5 ** 0.5; never below 0; nothing remediable: no score.
    assert scoring.mitigation_score([record("d", "2026-11-16T06:00:00Z", "2026-11-16T12:00:00Z")], start, end) == 70.71
    assert scoring.mitigation_score([c, unmatched], start, end) == 0.0
    assert scoring.mitigation_score([unmatched], start, end) is None


def test_findings_during_a_side_effect_are_neither_rewarded_nor_punished():
    side = {"incident_id": "s", "kind": "rollback_release_side_effect", "is_issue": False, "issues": [],
            "merchant_ids": ["merchant_002"], "onset": "2026-11-16T03:00:00Z", "end": "2026-11-16T08:00:00Z"}
    lines = ['{"merchant_id": "merchant_002", "issue": "low_conversion", "timestamp": "2026-11-16T05:00:00Z"}',
             '{"merchant_id": "merchant_002", "issue": "low_conversion", "timestamp": "2026-11-16T09:00:00Z"}']
    result = scoring.assess([side], findings.parse_lines(lines), DAY1, DAY1 + 24 * HOUR).summary()
    assert result["findings"]["during_side_effects"] == 1
    assert result["overall"]["fp"] == 1 and result["incidents"]["lookalikes"] == 0


# --- shotgun --------------------------------------------------------------------------------------

ACTIONS = ("failover_payment_provider", "raise_gateway_timeout", "rollback_release", "restore_location_feed",
           "fix_dns_record")


def play(cfg, agent, start, end) -> list:
    """The loop's answer key when agent (planned record, hour it acts -> remediation documents) acts
    on what alerts: every acute incident and look-alike, at the first hour of its plateau (or
    the last hour of the range, if later); each action recorded by the hourly run after it. Two
    weeks before start the agent is already at work: nothing is left held from before."""
    early = start - 14 * 24 * HOUR
    planned = incidents.answer_key(cfg, HourRange(early, end))[0]
    hits = []
    for r in planned:
        if r.get("onset") and r["merchant_ids"] and stamp(early) <= r["onset"] < stamp(end):
            at = min(datetime.strptime(r["plateau_start"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc),
                     end - HOUR)
            hits += agent(r, stamp(at))
    records = []
    for hit in hits:
        records += remediations.reconcile([hit], records, claim(hit) + 1, claim(hit), claim(hit) + 1)[2]
    return incidents.answer_key(cfg, HourRange(early, end), lambda window: ledger.Seen(records=records))[0]


def claim(hit) -> int:
    return ledger.claimed(hit["_source"])


def precise(r, at) -> list:
    """The accepted action, aimed at the incident's own scope; nothing on a look-alike."""
    if not r["is_issue"]:
        return []
    target = {"payment_provider": r["payment_provider"]} if r.get("payment_provider") else {
        "merchant_id": r["merchant_ids"][0]}
    return [{"_id": f"p-{r['incident_id']}", "_source": {**target, "action": r["remediation"][0], "timestamp": at}}]


def shotgun(providers):
    """Every action on every alerting merchant, and a failover of its provider."""
    def agent(r, at) -> list:
        out = []
        for merchant in r["merchant_ids"]:
            out += [{"_id": f"s-{merchant}-{a}-{at}", "_source": {"merchant_id": merchant, "action": a, "timestamp": at}}
                    for a in ACTIONS]
            out.append({"_id": f"s-{providers[merchant]}-{at}",
                        "_source": {"payment_provider": providers[merchant], "action": ACTIONS[0], "timestamp": at}})
        return out
    return agent


@pytest.mark.parametrize("seed", [1729, 7, 42])
def test_firing_every_action_at_every_alert_scores_well_below_a_precise_agent(seed):
    import generator

    cfg = Config(seed=seed, scenario="incidents", remediation=True)
    providers = {m.merchant_id: m.payment_provider for m in generator.roster(seed, cfg.merchants)}
    start, end = datetime(2026, 11, 2, tzinfo=timezone.utc), datetime(2026, 11, 16, tzinfo=timezone.utc)
    first, stop = generator.hour_index(start), generator.hour_index(end)
    scores = {}
    for name, agent in (("precise", precise), ("shotgun", shotgun(providers))):
        records = play(cfg, agent, start, end)
        summary = scoring.remediation_summary(records, [], first, stop)
        scores[name] = (scoring.mitigation_score(records, first, stop), summary["resolved_by_agent"],
                        summary["wrong_actions"])
    (precise_score, precise_share, precise_wrong), (shot_score, shot_share, shot_wrong) = scores.values()
    # The shotgun resolves at least as much, as fast: only its wrong actions keep it far below.
    assert shot_share >= precise_share >= 0.9 and precise_wrong == 0 and shot_wrong > 50
    assert precise_score >= 80 and shot_score <= precise_score - 50


# --- FINDINGS_INDEX -------------------------------------------------------------------------------


def test_findings_index_is_validated_like_every_index_and_needs_a_cluster():
    import config

    assert config.load_config({"FINDINGS_INDEX": "agent-findings"}).findings_index == "agent-findings"
    assert config.load_config({}).findings_index is None
    with pytest.raises(config.ConfigError, match="FINDINGS_INDEX must be a valid Elasticsearch index name"):
        config.load_config({"FINDINGS_INDEX": "Findings*"})
    for taken in ("pp-merchantai", "pp-merchantai-incidents", "pp-merchantai-remediations"):
        with pytest.raises(config.ConfigError, match="FINDINGS_INDEX must name an index of its own"):
            config.load_config({"FINDINGS_INDEX": taken})
    with pytest.raises(config.ConfigError, match="FINDINGS_INDEX is read from Elasticsearch: set ELASTICSEARCH_HOST"):
        config.check_remediation_source(config.load_config({"FINDINGS_INDEX": "agent-findings"}))
