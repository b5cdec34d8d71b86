"""The closed loop on SCENARIO=hard, end to end on the real engine: three days hour by hour through
the real handler, with `evaluate.py reference --remediate` as the agent (docs/grading.md#the-reference-solver).

Before the loop the function ran with REMEDIATION=off: four weeks of history, the open loop's. From T0
on it runs with REMEDIATION=on, and after each scheduled run the reference reads the indices and writes
the accepted action for what it confirmed in that hour.
"""

from __future__ import annotations

import json
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest

import data_generator
from grader import reference
from reliability import evaluated, iso, scheduled_at

HOUR = timedelta(hours=1)
T0 = datetime(2026, 11, 16, tzinfo=timezone.utc)
HOURS = 72


@pytest.fixture(scope="module")
def played(engine):
    from conftest import Cluster
    from shim import Proxy

    clone = engine.clone()
    proxy = Proxy(clone.url)
    cluster = Cluster(clone, proxy)
    mp = pytest.MonkeyPatch()
    for name, value in {"ELASTICSEARCH_HOST": cluster.url, "SCENARIO": "hard", "REMEDIATION": "off"}.items():
        mp.setenv(name, value)
    data_generator._client.cache_clear()
    history = (reference.HISTORY_HOURS + reference.LEAD_HOURS) * HOUR
    data_generator.lambda_handler({"start": iso(T0 - history), "end": iso(T0)}, None)
    mp.setenv("REMEDIATION", "on")
    actions = []
    for i in range(HOURS):
        hour = T0 + i * HOUR
        data_generator.lambda_handler(scheduled_at(hour), None)
        cluster.get("/pp-merchantai/_refresh")
        cluster.get("/pp-merchantai-events/_refresh")
        _, err = evaluated("reference", "--remediate", "--start", iso(hour), "--end", iso(hour + HOUR))
        actions += [line.split()[1] for line in err.splitlines() if line.startswith("remediation ")]
    yield cluster, actions
    mp.undo()
    data_generator._client.cache_clear()
    proxy.close()
    clone.close()


def records(cluster) -> list:
    cluster.get("/pp-merchantai-incidents/_refresh")
    body = json.dumps({"size": 1000, "query": {"exists": {"field": "onset"}}}).encode()
    request = urllib.request.Request(cluster.clone.url + "/pp-merchantai-incidents/_search", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        return [hit["_source"] for hit in json.loads(response.read())["hits"]["hits"]]


def test_the_reference_as_agent_fixes_every_problem_that_begins_in_the_loop_without_a_wrong_action(played):
    cluster, actions = played
    found = {r["incident_id"]: r for r in records(cluster)}
    loop = {r["incident_id"]: (r["resolved_by"], r["resolved_at"], r["wrong_actions"]) for r in found.values()
            if r["is_issue"] and r.get("remediation") and iso(T0) <= r["onset"] < iso(T0 + HOURS * HOUR)}
    # Each fixed in the hour its cause was confirmed, 2 hours after it was decided.
    assert loop == {
        "channel_checkout_regression-merchant_007-2026111602": ("remediation", "2026-11-16T07:00:00Z", []),
        "three_ds_failure-merchant_010-2026111610": ("remediation", "2026-11-17T07:00:00Z", []),
        "location_feed_outage-merchant_013-2026111622": ("remediation", "2026-11-17T01:00:00Z", []),
        "app_crash_release-merchant_002-2026111623": ("remediation", "2026-11-17T04:00:00Z", []),
        "geocoder_outage-merchant_017-2026111702": ("remediation", "2026-11-17T04:00:00Z", []),
        "merchant_record_edit-merchant_018-2026111708": ("remediation", "2026-11-17T10:00:00Z", []),
        "three_ds_failure-merchant_003-2026111714": ("remediation", "2026-11-18T05:00:00Z", []),
        "pricing_error-merchant_014-2026111808": ("remediation", "2026-11-18T12:00:00Z", []),
    }
    # The wrong actions: at the switch to REMEDIATION=on, incidents of the week before that the open
    # loop had ended are held again (docs/closed-loop.md); several on one merchant at once (a location
    # loss, a DNS flap, its provider's outage) mislead it in its first hours: one action, wrong on the
    # three incidents it touched. None on an incident of the loop's own days, and no false alarm.
    wrong = sorted((r["incident_id"], w["action"], w["timestamp"]) for r in found.values()
                   for w in r.get("wrong_actions") or [])
    assert [(i, a) for i, a, _ in wrong] == [
        ("dns_misconfiguration-merchant_009-2026111216", "restore_location_feed"),
        ("merchant_record_edit-merchant_009-2026111017", "restore_location_feed"),
        ("provider_outage-paylane-2026111218", "restore_location_feed")]
    assert len({t for _, _, t in wrong}) == 1 and all(found[i]["onset"] < iso(T0) for i, _, _ in wrong)
    assert len(actions) == 19, actions
