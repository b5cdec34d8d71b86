"""evaluate.py against the real engine: reading observations and findings back."""

from __future__ import annotations

import io
import json
import urllib.request
from datetime import datetime, timedelta, timezone

from grader import baseline
import data_generator
import es
from grader import cli as evaluate
from grader import findings

T0 = datetime(2026, 11, 20, tzinfo=timezone.utc)


def post(cluster, path, body, content_type="application/json"):
    request = urllib.request.Request(cluster.clone.url + path, data=body.encode(), method="POST",
                                     headers={"Content-Type": content_type})
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())


def test_read_observations_pages_through_a_range_in_order(cluster, monkeypatch):
    monkeypatch.setattr(es, "SCROLL_PAGE", 7)  # several pages of a 30-document range
    monkeypatch.setenv("ELASTICSEARCH_HOST", cluster.url)
    monkeypatch.setenv("MERCHANT_COUNT", "5")
    data_generator.lambda_handler({"start": "2026-11-20T00:00:00Z", "end": "2026-11-20T12:00:00Z"}, None)
    cluster.get("/pp-merchantai/_refresh")
    docs = es.read_observations(es.connect(cluster.url), "pp-merchantai", T0 + timedelta(hours=3),
                                T0 + timedelta(hours=9), baseline.OBSERVED_FIELDS)
    indexed = sorted(cluster.documents().values(), key=lambda d: (d["timestamp"], d["merchant_id"]))
    assert docs == [baseline.observed(d) for d in indexed[3 * 5:9 * 5]]
    assert docs[0]["timestamp"] == "2026-11-20T03:00:00Z" and docs[-1]["timestamp"] == "2026-11-20T08:00:00Z"
    searches = [r for r in cluster.proxy.requests if "_search" in r.path]
    assert len(searches) == 1 + 5 + 1  # the opening search, 5 scroll pages (the last empty), the clear


def test_findings_index_is_read_whatever_its_mapping(cluster):
    lines = []
    for n, issue in enumerate(["low_conversion", "slow_checkout", "high_error_rate"]):
        lines += [json.dumps({"index": {"_index": "ai-findings", "_id": f"f{n}"}}),
                  json.dumps({"merchant_id": "merchant_001", "issue": issue,
                              "timestamp": f"2026-11-20T0{n}:00:00Z", "confidence": 0.9})]
    post(cluster, "/_bulk?refresh=true", "\n".join(lines) + "\n", "application/x-ndjson")
    parsed = findings.parse_documents(es.read_documents(es.connect(cluster.url), "ai-findings",
                                                         {"match_all": {}}, ["_doc"]))
    assert sorted((f.issue, f.where) for f in parsed.usable) == [("high_error_rate", "document f2"),
                                                                  ("low_conversion", "document f0")]
    assert parsed.problems == [("document f1", "unknown label 'slow_checkout' (known: low_conversion, "
                                               "high_error_rate, missing_location, traffic_drop)")]


def test_baseline_reads_the_index_with_seven_days_of_history(cluster, monkeypatch):
    env = {"ELASTICSEARCH_HOST": cluster.url, "MERCHANT_COUNT": "3"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    data_generator.lambda_handler({"start": "2026-11-12T00:00:00Z", "end": "2026-11-20T02:00:00Z"}, None)
    cluster.get("/pp-merchantai/_refresh")
    out, err = io.StringIO(), io.StringIO()
    assert evaluate.main(["baseline", "--start", "2026-11-20T00:00:00Z", "--end", "2026-11-20T02:00:00Z"],
                         environ=env, out=out, err=err) == 0
    # 2 hours and the 7 days before them, 3 merchants.
    assert f"from {(7 * 24 + 2) * 3} documents" in err.getvalue()
    found = [json.loads(line) for line in out.getvalue().splitlines()]
    assert found and all(f["timestamp"] == "2026-11-20T00:00:00Z" for f in found)
