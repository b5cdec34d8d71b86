"""Backfill progress on stderr, without a dependency.

On a terminal: one bar redrawn in place (documents, percent, docs/s, ETA),
at most every REDRAW_S seconds. Elsewhere (CI, a pipe, a log file): one plain
line every LINE_EVERY_S seconds, so logs stay readable. Both end with one
summary line. The stream and the clock are injectable for tests.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import sys
import time

REDRAW_S = 0.1
LINE_EVERY_S = 5.0
BAR_WIDTH = 24


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


class Progress:
    """Call with the number of documents just done; close() prints the summary."""

    def __init__(self, total: int, stream=None, clock=time.monotonic, tty: bool | None = None,
                 what: str = "documents", columns: int | None = None):
        self.total = total
        self.stream = sys.stderr if stream is None else stream
        self.clock = clock
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)()) if tty is None else tty
        self.what = what
        # The bar must fit on one line, or \r would redraw only its last part.
        self.columns = columns or (shutil.get_terminal_size().columns if self.tty else 80)
        self.done = 0
        self.started = clock()
        self._shown = self.started if not self.tty else float("-inf")
        self._closed = False
        self._line_open = False  # a bar is on the terminal's current line

    def rate(self, now: float) -> float:
        elapsed = now - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    def status(self, now: float) -> str:
        rate = self.rate(now)
        percent = 100 * self.done / self.total if self.total else 100.0
        eta = _duration((self.total - self.done) / rate) if rate else "?"
        return (f"{self.done:,}/{self.total:,} {self.what} ({percent:.0f}%), "
                f"{rate:,.0f} docs/s, ETA {eta}")

    def bar(self, now: float) -> str:
        status = self.status(now)
        width = min(BAR_WIDTH, self.columns - 4 - len(status))
        if width < 5:  # a narrow terminal: the figures alone, cut to fit
            return status[:self.columns - 1]
        filled = width * self.done // self.total if self.total else width
        return "[" + "#" * filled + "." * (width - filled) + "] " + status

    def __call__(self, count: int) -> None:
        self.done += count
        now = self.clock()
        if self.tty:
            if now - self._shown >= REDRAW_S or self.done >= self.total:
                self._shown = now
                # \r and clear-to-end: redraw in place, even when the line shrinks;
                # a complete bar ends its line, so what follows starts on a new one.
                complete = self.done >= self.total
                self.stream.write("\r" + self.bar(now) + "\x1b[K" + ("\n" if complete else ""))
                self.stream.flush()
                self._line_open = not complete
        elif now - self._shown >= LINE_EVERY_S:
            self._shown = now
            self.stream.write("progress: " + self.status(now) + "\n")
            self.stream.flush()

    def clear(self) -> None:
        """Take an unfinished bar off the line, so a log record can be printed there."""
        if self._line_open:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._line_open = False

    @contextlib.contextmanager
    def around_logging(self, logger: logging.Logger | None = None):
        """While inside, log records printed by logger's handlers (default: root's) clear the bar first."""
        bar = self

        class ClearBar(logging.Filter):
            def filter(self, record):
                bar.clear()
                return True

        handlers = list((logger or logging.getLogger()).handlers)
        clear_bar = ClearBar()
        for handler in handlers:
            handler.addFilter(clear_bar)
        try:
            yield self
        finally:
            for handler in handlers:
                handler.removeFilter(clear_bar)

    def close(self, summary: dict | None = None, failed: bool = False) -> None:
        """End the bar's line and print the final summary (once); failed: the run raised."""
        if self._closed:
            return
        self._closed = True
        now = self.clock()
        elapsed = now - self.started
        line = f"{self.done:,} {self.what} in {_duration(elapsed)} ({self.rate(now):,.0f} docs/s)"
        if failed:
            line = f"{self.done:,} of {self.total:,} {self.what} in {_duration(elapsed)} before the error"
        elif summary is not None and summary.get("resume_from"):
            line += f"; stopped early, resume from {summary['resume_from']}"
        if self.tty and self.done < self.total:  # an unfinished bar: show where it stopped
            self.stream.write("\r" + self.bar(now) + "\x1b[K\n")
        self._line_open = False
        self.stream.write(("stopped: " if failed else "done: ") + line + "\n")
        self.stream.flush()
