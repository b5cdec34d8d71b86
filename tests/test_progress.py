"""Backfill progress output: a bar on a terminal, plain lines elsewhere (injected stream and clock)."""

from __future__ import annotations

import io
import logging

import data_generator
import progress


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_non_tty_prints_a_plain_line_every_few_seconds_and_a_summary():
    stream, clock = io.StringIO(), Clock()
    bar = progress.Progress(10_000, stream, clock, tty=False)
    bar(2_000)  # too soon for a line
    assert stream.getvalue() == ""
    clock.now += progress.LINE_EVERY_S
    bar(2_000)
    clock.now += 1
    bar(2_000)  # again too soon
    clock.now += progress.LINE_EVERY_S
    bar(2_000)
    bar.close({"status": "ok"})
    lines = stream.getvalue().splitlines()
    assert lines == [
        "progress: 4,000/10,000 documents (40%), 800 docs/s, ETA 0:08",
        "progress: 8,000/10,000 documents (80%), 727 docs/s, ETA 0:03",
        "done: 8,000 documents in 0:11 (727 docs/s)",
    ]
    assert "\r" not in stream.getvalue() and "\x1b" not in stream.getvalue()


def test_tty_redraws_one_bar_in_place_and_ends_the_line():
    stream, clock = io.StringIO(), Clock()
    bar = progress.Progress(4_000, stream, clock, tty=True, columns=120)
    clock.now += 1
    bar(1_000)
    bar(1_000)  # same instant: not redrawn
    clock.now += 1
    bar(2_000)  # complete: always drawn
    bar.close({"status": "ok"})
    out = stream.getvalue()
    frames = out.split("\r")[1:]
    assert frames[0] == "[" + "#" * 6 + "." * 18 + "] 1,000/4,000 documents (25%), 1,000 docs/s, ETA 0:03\x1b[K"
    # Complete: the bar ends its line; the summary follows on its own.
    assert frames[1] == ("[" + "#" * 24 + "] 4,000/4,000 documents (100%), 2,000 docs/s, ETA 0:00\x1b[K\n"
                         "done: 4,000 documents in 0:02 (2,000 docs/s)\n")
    assert len(frames) == 2


def test_tty_bar_makes_room_for_log_records_and_shows_where_it_stopped():
    stream, clock = io.StringIO(), Clock()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("test_progress")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        bar = progress.Progress(4_000, stream, clock, tty=True, columns=120)
        with bar.around_logging(logger):
            bar(1_000)
            logger.warning("retrying in 1 s")
            clock.now += 1
            bar(1_000)
        logger.warning("after: no clearing")
        bar.close({"status": "partial", "resume_from": "2026-01-01T05:00:00Z"})
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue().split("\n")
    assert lines[0].endswith("\r\x1b[Kretrying in 1 s")  # the bar was wiped, then the record printed
    assert lines[1].startswith("\r[############....") and "after: no clearing" in lines[1]
    assert lines[2] == "\r[" + "#" * 12 + "." * 12 + "] 2,000/4,000 documents (50%), 2,000 docs/s, ETA 0:01\x1b[K"
    assert lines[3] == "done: 2,000 documents in 0:01 (2,000 docs/s); stopped early, resume from 2026-01-01T05:00:00Z"


def test_tty_bar_fits_the_terminal():
    stream, clock = io.StringIO(), Clock()
    bar = progress.Progress(3_648_000, stream, clock, tty=True, columns=80)
    clock.now += 1
    bar(1_000_000)
    (frame,) = stream.getvalue().split("\r")[1:]
    assert len(frame.replace("\x1b[K", "")) < 80
    assert frame.startswith("[##") and "1,000,000/3,648,000 documents (27%)" in frame
    narrow = progress.Progress(3_648_000, io.StringIO(), clock, tty=True, columns=40)
    assert len(narrow.bar(clock.now + 1)) == 39


def test_tty_detected_from_the_stream():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    assert progress.Progress(1, Terminal()).tty is True
    assert progress.Progress(1, io.StringIO()).tty is False


def test_summary_of_a_partial_and_of_a_failed_run():
    stream, clock = io.StringIO(), Clock()
    bar = progress.Progress(3_600, stream, clock, tty=False)
    clock.now += 3_700
    bar(1_800)
    bar.close({"status": "partial", "resume_from": "2026-01-01T05:00:00Z"})
    bar.close()  # only once
    assert stream.getvalue().splitlines()[-1] == (
        "done: 1,800 documents in 1:01:40 (0 docs/s); stopped early, resume from 2026-01-01T05:00:00Z"
    )
    stream = io.StringIO()
    bar = progress.Progress(10, stream, Clock(), tty=False)
    bar(4)
    bar.close(failed=True)
    assert stream.getvalue() == "stopped: 4 of 10 documents in 0:00 before the error\n"


def test_cli_backfill_reports_progress_on_stderr_and_a_single_hour_does_not(tmp_path, capsys):
    out = tmp_path / "range.ndjson"
    assert data_generator.main(["--start", "2026-01-01T00:00", "--end", "2026-01-01T05:00",
                                "--merchants", "7", "--output", str(out)]) == 0
    err = capsys.readouterr().err
    assert "done: 35 documents in " in err
    lines = out.read_text().splitlines()
    assert len(lines) == 2 * 35 and not any("-incidents" in action for action in lines[::2])
    # The answer key's in a file of its own, beside the output.
    assert (tmp_path / "range-incidents.ndjson").read_text().count("-incidents") > 0

    assert data_generator.main(["--start", "2026-01-01T00:00", "--merchants", "7",
                                "--end", "2026-01-01T01:00", "--output", str(out)]) == 0
    assert "done:" not in capsys.readouterr().err
