"""The golden fixture: bulk NDJSON made once from main before incidents existed, read by eye.

It is the independent specification of the data model: every other test compares
the generator with itself, this one with literal text. Regenerating the fixture to
make this pass defeats it; a change that moves a value must be argued, not re-recorded.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import data_generator

GOLDEN = Path(__file__).parent / "golden"

# (file, CLI arguments that made it): three seeds, a century boundary, 243 documents.
CASES = [
    ("seed-1729.ndjson", ["--seed", "1729", "--merchants", "20", "--start", "2026-11-01T00:00Z", "--end", "2026-11-01T06:00Z"]),
    ("seed-7.ndjson", ["--seed", "7", "--merchants", "12", "--start", "1999-12-31T22:00Z", "--end", "2000-01-01T02:00Z"]),
    ("seed--42.ndjson", ["--seed=-42", "--merchants", "25", "--start", "2026-03-29T00:00Z", "--end", "2026-03-29T03:00Z"]),
]


@pytest.mark.parametrize("name,args", CASES, ids=[c[0] for c in CASES])
def test_the_cli_reproduces_the_golden_fixture_byte_for_byte(tmp_path, name, args):
    out = tmp_path / name
    assert data_generator.main([*args, "--output", str(out)], environ={}) == 0
    assert out.read_bytes() == (GOLDEN / name).read_bytes()
