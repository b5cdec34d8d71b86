"""The closed loop on SCENARIO=hard, end to end on the real engine: three days hour by hour through
the real handler, with `evaluate.py reference --remediate` as the agent (docs/grading.md#the-reference-solver).

Before the loop the function ran with REMEDIATION=off: four weeks of history, the open loop's. From T0
on it runs with REMEDIATION=on, and after each scheduled run the reference reads the indices and writes
the accepted action for what it confirmed in that hour.
"""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta, timezone

import pytest

import data_generator
from grader import cli as evaluate
from grader import reference

HOUR = timedelta(hours=1)
T0 = datetime(2026, 11, 16, tzinfo=timezone.utc)
HOURS = 72


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def scheduled(hour: datetime) -> dict:
    return {"version": "0", "id": "e7c6f1a2-0000-4000-8000-000000000000", "detail-type": "Scheduled Event",
            "source": "aws.events", "account": "123456789012", "time": iso(hour + 7 * timedelta(seconds=1)),
            "region": "us-east-1", "resources": ["arn:aws:events:us-east-1:123456789012:rule/hourly"], "detail": {}}


def cli(*argv) -> tuple:
    out, err = io.StringIO(), io.StringIO()
    assert evaluate.main(list(argv), out=out, err=err) == 0, err.getvalue()
    return out.getvalue(), err.getvalue()


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
        data_generator.lambda_handler(scheduled(hour), None)
        cluster.get("/pp-merchantai/_refresh")
        _, err = cli("reference", "--remediate", "--start", iso(hour), "--end", iso(hour + HOUR))
        actions += [line.split()[1] for line in err.splitlines() if line.startswith("remediation ")]
    yield cluster, actions
    mp.undo()
    data_generator._client.cache_clear()
    proxy.close()
    clone.close()


def test_the_reference_as_agent_resolves_what_it_confirms_without_a_wrong_action(played, monkeypatch, tmp_path):
    cluster, actions = played
    for name, value in {"ELASTICSEARCH_HOST": cluster.url, "SCENARIO": "hard", "REMEDIATION": "on"}.items():
        monkeypatch.setenv(name, value)
    found = tmp_path / "reference.jsonl"
    found.write_text(cli("reference", "--start", iso(T0), "--end", iso(T0 + HOURS * HOUR))[0])
    result = json.loads(cli("score", "--json", "--findings", str(found), "--start", iso(T0),
                            "--end", iso(T0 + HOURS * HOUR))[0])
    print(actions, json.dumps(result["remediation"]), result["overall"])
    assert result["remediation"]["wrong_actions"] == 0
    assert False
