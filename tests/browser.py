"""Headless Chromium for the report's tests: a screenshot and the DOM as the browser laid it out."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

CHROMIUM = shutil.which("chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
# Appended to a copy of the page: what the browser rendered, written where --dump-dom shows it.
# The legend's top is measured before and after scrolling most of the way down.
PROBE = """<script>
const box = e => e.getBoundingClientRect();
const all = selector => [...document.querySelectorAll(selector)];
const legend = document.querySelector(".legend");
const before = legend && box(legend).top;
window.scrollTo(0, document.documentElement.scrollHeight * 0.7);
const after = legend && box(legend).top;
const probe = document.createElement("pre");
probe.id = "probe";
probe.textContent = JSON.stringify({
  panels: [...document.querySelectorAll(".panel")].map(p => [p.dataset.merchant, box(p).width, box(p).height]),
  bands: [...document.querySelectorAll("rect.band")].map(b => [b.dataset.incident,
          b.closest(".panel").dataset.merchant, box(b).width, b.querySelector("title").textContent]),
  findings: document.querySelectorAll(".finding").length,
  resources: performance.getEntriesByType("resource").length,
  legend: all(".legend span").map(s => s.textContent.trim()),
  sticky: [before, after, window.scrollY],
  markers: all(".finding").map(u => [u.dataset.outcome, u.getAttribute("href"), box(u).width, box(u).height]),
  keys: all(".legend .key use").map(u => [u.closest(".key").dataset.outcome, u.getAttribute("href")]),
  shapes: Object.fromEntries(all("defs path[id^=marker-]").map(p => [p.id,
          [p.getAttribute("d").replace(/^M0 0/, ""), getComputedStyle(p).fill]])),
  labels: all("text.band-label").map(t => [t.closest(".panel").dataset.merchant, t.textContent, box(t).width]),
  ticks: all(".panel")[0] ? [...all(".panel")[0].querySelectorAll("svg > text")].map(t => t.textContent) : [],
  summary: all("table.summary tbody tr").length,
  score: all("table.score tbody tr").map(r => [...r.cells].map(c => c.textContent)),
});
// Only the probe is dumped: a large page's DOM would take seconds to serialise.
document.body.replaceChildren(probe);
</script>"""


def _run(tmp: Path, *args: str) -> str:
    profile = tmp / "chromium-profile"
    done = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True,
                          timeout=60, check=True)
    return done.stdout


def screenshot(page: Path, png: Path, width: int, height: int) -> bytes:
    _run(png.parent, f"--screenshot={png}", f"--window-size={width},{height}", page.as_uri())
    return png.read_bytes()


def rendered(page: Path, tmp: Path) -> dict:
    """The probe's view of the page: panels, bands, findings markers, the legend, resources fetched."""
    probed = tmp / "probed.html"
    probed.write_text(page.read_text(encoding="utf-8") + PROBE, encoding="utf-8")
    dom = _run(tmp, "--dump-dom", probed.as_uri())
    text = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S).group(1)
    return json.loads(html.unescape(text))
