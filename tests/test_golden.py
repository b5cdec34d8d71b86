"""The golden fixture: bulk NDJSON made once from main before incidents existed, read by eye.

It is the independent specification of the data model: every other test compares
the generator with itself, this one with literal text. Regenerating the fixture to
make this pass defeats it; a change that moves a value must be argued, not re-recorded.

Since incidents exist, SCENARIO=steady GROUND_TRUTH=inline is that same data model
plus fields and lines the fixture predates: payment_provider and incident_ids in each
document, and the answer-key records. Those are taken out, order kept, and the rest
must be the fixture's text, every count, rate and field: steady is today's world.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import data_generator

GOLDEN = Path(__file__).parent / "golden"
ADDED_FIELDS = ("payment_provider", "incident_ids", "errors_by_code", "latency_p95_ms", "channels")

# (file, CLI arguments that made it): three seeds, a century boundary, 243 documents.
CASES = [
    ("seed-1729.ndjson", ["--seed", "1729", "--merchants", "20", "--start", "2026-11-01T00:00Z", "--end", "2026-11-01T06:00Z"]),
    ("seed-7.ndjson", ["--seed", "7", "--merchants", "12", "--start", "1999-12-31T22:00Z", "--end", "2000-01-01T02:00Z"]),
    ("seed--42.ndjson", ["--seed=-42", "--merchants", "25", "--start", "2026-03-29T00:00Z", "--end", "2026-03-29T03:00Z"]),
]


def without_what_came_later(text: str) -> str:
    """The data-index pairs of a bulk NDJSON file, each source without the added fields."""
    lines = text.splitlines()
    kept = []
    for action, source in zip(lines[::2], lines[1::2]):
        if json.loads(action)["index"]["_index"] != "pp-merchantai":
            continue
        document = json.loads(source, object_pairs_hook=dict)
        assert set(ADDED_FIELDS) <= set(document)
        for name in ADDED_FIELDS:
            del document[name]
        kept += [action, json.dumps(document, separators=(",", ":"))]
    return "\n".join(kept) + "\n"


@pytest.mark.parametrize("name,args", CASES, ids=[c[0] for c in CASES])
def test_steady_reproduces_the_golden_fixture_byte_for_byte(tmp_path, name, args):
    out = tmp_path / name
    environ = {"SCENARIO": "steady", "GROUND_TRUTH": "inline"}
    assert data_generator.main([*args, "--output", str(out)], environ=environ) == 0
    text = out.read_text(encoding="utf-8")
    answer_key_lines = sum('"_index":"pp-merchantai-incidents"' in line for line in text.splitlines()[::2])
    assert answer_key_lines > 0
    assert without_what_came_later(text) == (GOLDEN / name).read_text(encoding="utf-8")
