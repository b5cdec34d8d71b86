"""One self-contained HTML report: the score, per merchant charts with incident bands and findings, the roster.

Charts are inline SVG drawn here; no script, no network, no external fonts. Stable hooks for
tests: div.panel[data-merchant], rect.band[data-incident][data-kind], .finding[data-outcome],
.remediation[data-remediation][data-outcome], table.score, table.summary, .legend.
"""

from __future__ import annotations

import functools
import html
import json
import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone

from generator import HIGH_ERROR_RATE, LOW_CONVERSION, MISSING_LOCATION, TRAFFIC_DROP, hour_index, stamp
from grader import baseline, scoring
from grader.scoring import hour_of as _parse_hour
from remediations import REMEDIATION, UNMATCHED


# A month of 1,000 merchants has only 720 distinct timestamps: parse each once.
hour_of = functools.lru_cache(maxsize=4096)(_parse_hour)


@dataclass(frozen=True)
class Look:
    """How a kind of incident is drawn: its colour, the name on its band, a hatch for look-alikes."""

    colour: str
    short: str
    hatch: str | None = None  # "stripes" or "cross": a muted pattern instead of a flat tint


# Every acute kind of the catalog has its own look (tests/test_report.py checks); benign look-alikes
# are hatched, so they never read as a problem.
KINDS = {
    "payment_outage": Look("#e15759", "outage"),
    "gateway_timeouts": Look("#f28e2b", "timeouts"),
    "checkout_regression": Look("#b07aa1", "checkout"),
    "location_feed_loss": Look("#9c755f", "location feed"),
    "traffic_drop": Look("#4e79a7", "traffic drop"),
    "promo_surge": Look("#5f8f5a", "promo", "stripes"),
    "maintenance_window": Look("#6b7a90", "maintenance", "cross"),
}
OTHER = "#17becf"  # a kind the report does not know: its own name on the band

# Finding markers: Okabe-Ito colours, and a shape per outcome, so neither alone carries the meaning.
# Shapes are paths relative to the marker's centre, all at least 11 px across.
SHAPES = {
    "circle": "m-5.5 0a5.5 5.5 0 1 0 11 0a5.5 5.5 0 1 0-11 0z",
    "diamond": "m0-6.5l6.5 6.5-6.5 6.5-6.5-6.5z",
    "cross": "m-5.5-3.5l2-2 3.5 3.5 3.5-3.5 2 2-3.5 3.5 3.5 3.5-2 2-3.5-3.5-3.5 3.5-2-2 3.5-3.5z",
    "triangle": "m-6-5.5h12l-6 11z",
    "square": "m-5.5-5.5h11v11h-11z",
}
OUTCOMES = {  # outcome: (colour, shape, name)
    scoring.TP: ("#009e73", "circle", "detection"),
    scoring.DUPLICATE: ("#56b4e9", "diamond", "later duplicate"),
    scoring.FP: ("#d55e00", "cross", "false positive"),
    scoring.LOOKALIKE: ("#cc79a7", "triangle", "look-alike false alarm"),
    scoring.SIDE_EFFECT: ("#e69f00", "square", "during a side effect (neutral)"),
}
OUTLINE = "#1f2328"

# The closed loop's remediations: a vertical line at the hour the AI acted, topped by a square.
FIX, WRONG = "fix", "wrong"
REMEDIATIONS = {FIX: ("#0072b2", "remediation that fixed an incident"),
                WRONG: ("#d55e00", "wrong action on an incident"),
                UNMATCHED: ("#cc79a7", "action with nothing active")}

# Geometry of one merchant's SVG, in px: a lane for the bands' names, three charts, the location
# strip, the time axis. Every panel has the same, so the frame is drawn once and reused.
WIDTH, LEFT, RIGHT = 1100, 100, 10
PLOT = WIDTH - LEFT - RIGHT
LANE = 13
CHARTS = (("sessions", "sessions/h", 72), ("conversion_rate", "conversion %", 48), ("error_rate", "errors %", 48))
STRIP = 12  # hours without location
GAP, AXIS = 8, 18
# Fixed scales for the rates, with the baseline's thresholds dashed: panels compare at a glance.
RATE_SCALES = {"conversion_rate": (100, 50, baseline.CONVERSION_BELOW), "error_rate": (50, 25, baseline.ERRORS_ABOVE)}
# Which chart a finding's marker sits on.
MARKER_ROW = {TRAFFIC_DROP: "sessions", LOW_CONVERSION: "conversion_rate", HIGH_ERROR_RATE: "error_rate",
              MISSING_LOCATION: "location"}
# Rosters over this many merchants open with a summary table and draw only the merchants with
# something to see.
SUMMARY_OVER = 50
# At most this many points over all lines (about 5 bytes each): past it, each point averages a few
# hours, so 1,000 merchants over 30 days stay under 5 MB. Never more than a point per pixel.
POINTS = 350_000
CHAR_PX = 5.6  # a 10 px system-ui character, on average: what fits where

STYLE = """
body{font:13px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:16px 24px;color:#1f2328}
h1{font-size:20px;margin:0 0 6px}h2{font-size:16px;margin:18px 0 6px}
dl.meta{display:grid;grid-template-columns:repeat(2,max-content minmax(0,auto));gap:1px 14px;margin:0;max-width:1100px}
dl.meta dt{color:#57606a}dl.meta dd{margin:0}
.tables{display:flex;flex-wrap:wrap;gap:8px 20px;align-items:flex-start}
table{border-collapse:collapse;font-size:12px}td,th{padding:2px 7px;border-bottom:1px solid #d0d7de;text-align:left;vertical-align:top}
table.per-label td,table.per-label th{padding:2px 5px}
caption{caption-side:bottom;text-align:left;color:#57606a;font-size:11px;padding-top:3px;max-width:360px}
th{font-weight:600;background:#f6f8fa}td.value{font-variant-numeric:tabular-nums;white-space:nowrap}td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.score td.why{color:#57606a;max-width:370px}table.score td.metric{font-weight:600;max-width:150px}
.legend{position:sticky;top:0;z-index:1;background:#fff;padding:5px 0 4px;border-bottom:1px solid #d0d7de;max-width:1100px}
.legend span{display:inline-block;margin:1px 14px 1px 0;white-space:nowrap}
.legend svg{vertical-align:-2px;margin-right:4px}
.panel{margin:8px 0 12px}.panel h3{font-size:13px;margin:0;font-weight:600}.panel h3 small{font-weight:400;color:#57606a}
svg text{font:10px system-ui,sans-serif;fill:#57606a}svg text.band-label{font-size:10px;font-weight:600}
.chronic{color:#b35806}.defs{position:absolute;width:0;height:0}
div.summary{max-height:360px;overflow:auto;display:inline-block;border:1px solid #d0d7de}
div.summary th{position:sticky;top:0}
"""


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _when(hour: int) -> str:
    """An hour as the page shows it: 2026-11-01 05:00 (UTC, as the axis says)."""
    return f"{stamp(hour)[:10]} {stamp(hour)[11:16]}"


def _look(kind: str) -> Look:
    return KINDS.get(kind) or Look(OTHER, kind.replace("_", " "))


def _shade(colour: str, keep: float = 0.62) -> str:
    """colour darkened towards black: text in a kind's colour that stays legible on its tint."""
    rgb = [int(colour[i:i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(c * keep):02x}" for c in rgb)


def _fill(kind: str) -> str:
    look = _look(kind)
    return f"fill:url(#hatch-{kind})" if look.hatch else f"fill:{look.colour};fill-opacity:0.2"


def _kind_style() -> str:
    """Each kind's band fill, by its data-kind: written once, not on every band."""
    return (f"rect.band{{fill:{OTHER};fill-opacity:0.2}}text.band-label{{fill:{_shade(OTHER)}}}"
            + "".join(f'rect.band[data-kind="{kind}"]{{{_fill(kind)}}}text.band-label[data-kind="{kind}"]'
                      f'{{fill:{_shade(look.colour)}}}' for kind, look in KINDS.items()))


def _pattern(kind: str, look: Look) -> str:
    tint = f'<rect width="7" height="7" fill="{look.colour}" fill-opacity="0.1"/>'
    if look.hatch == "stripes":
        lines = f'<rect width="2.4" height="7" fill="{look.colour}" fill-opacity="0.6"/>'
        transform = ' patternTransform="rotate(45)"'
    else:
        lines = f'<path d="M0 0L7 7M7 0L0 7" stroke="{look.colour}" stroke-opacity="0.7" stroke-width="1.3"/>'
        transform = ""
    return (f'<pattern id="hatch-{kind}" width="7" height="7" patternUnits="userSpaceOnUse"{transform}>'
            f'{tint}{lines}</pattern>')


def _markers() -> str:
    """One shape per outcome, defined once (<path id="marker-tp">...) and placed with <use>."""
    return "".join(f'<path id="marker-{outcome}" d="M0 0{SHAPES[shape]}" fill="{colour}" stroke="{OUTLINE}" '
                   f'stroke-width="0.8"/>' for outcome, (colour, shape, _) in OUTCOMES.items())


class _Axis:
    """Shared time axis: every panel maps hour h to the same x."""

    def __init__(self, first: int, stop: int):
        self.first, self.stop = first, stop
        self.step = PLOT / (stop - first)

    def edge(self, hour: int) -> float:
        return LEFT + (min(max(hour, self.first), self.stop) - self.first) * self.step

    def centre(self, hour: int) -> float:
        return self.edge(hour) + self.step / 2


class _Rows:
    """Where each chart sits in a panel: {field: (top, height)}, and the panel's height."""

    def __init__(self):
        self.at, y = {}, LANE + 1.0
        for field, _, height in CHARTS:
            self.at[field] = (y, height)
            y += height + GAP
        self.at["location"] = (y, STRIP)
        self.bottom = y + STRIP
        self.height = self.bottom + AXIS


ROWS = _Rows()


def _nice(top: float) -> tuple:
    """(scale, step): a round scale of at most 3 round steps from zero that holds top."""
    raw = max(top, 3) / 3
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return math.ceil(top / step) * step if top > 0 else step, step


def _number(value: float) -> str:
    return f"{value / 1000:g}k" if value >= 1000 else f"{value:g}"


def _yticks(top: float, height: float, scale: float, step: float, threshold=None) -> list:
    out, grid, value = [], [], 0.0
    while value <= scale + 1e-9:
        y = round(top + height - value / scale * height, 1)
        if 0 < value < scale:
            grid.append(f"M{LEFT} {y:g}H{WIDTH - RIGHT}")
        # Labels stay inside their chart: the top one below its line, the zero above it.
        text_y = y + 8 if value >= scale - 1e-9 else y - 1 if value == 0 else y + 3.5
        out.append(f'<text x="{LEFT - 4}" y="{text_y:.1f}" text-anchor="end">{_number(value)}</text>')
        value += step
    out.append(f'<path d="{"".join(grid)}" stroke="#eaeef2"/>')
    if threshold is not None:
        y = round(top + height - threshold / scale * height, 1)
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y}" y2="{y}" stroke="#6e7781" '
                   f'stroke-dasharray="4 3"/>')
    return out


def _frame(axis: _Axis) -> str:
    """What every panel shares, drawn once as <g id="frame"> and reused: the charts' frames and
    names, the rates' ticks and thresholds, midnight grid lines and their dates (UTC)."""
    out = []
    for field, name, height in CHARTS:
        top = ROWS.at[field][0]
        out.append(f'<text x="0" y="{top + height / 2 + 3.5:.1f}">{_e(name)}</text>')
        if field in RATE_SCALES:
            scale, step, threshold = RATE_SCALES[field]
            out += _yticks(top, height, scale, step, threshold)
    top = ROWS.at["location"][0]
    out.append(f'<text x="0" y="{top + 9}">no location</text>')
    midnights = list(range(-(-axis.first // 24) * 24, axis.stop, 24))
    for hour in midnights:
        x = axis.edge(hour)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{LANE}" y2="{ROWS.bottom + 4}" stroke="#d8dee4"/>')
    # Dates (with the weekday where a day is wide enough), from the range's first hour on, each
    # drawn only clear of the one before it.
    fmt = "%a %Y-%m-%d" if axis.step * 24 >= 100 else "%Y-%m-%d"
    free = LEFT
    for hour in ([] if axis.first % 24 == 0 else [axis.first]) + midnights:
        moment = datetime.fromtimestamp(hour * 3600, timezone.utc)
        text = moment.strftime(fmt) + ("" if hour % 24 == 0 else moment.strftime(" %H:00"))
        x, width = axis.edge(hour), len(text) * CHAR_PX
        if x >= free and x + width <= WIDTH:
            out.append(f'<text x="{x + 3:.1f}" y="{ROWS.bottom + 13}">{text}</text>')
            free = x + width + 12
    out.append(f'<text x="{LEFT - 4}" y="{ROWS.bottom + 13}" text-anchor="end">time, UTC</text>')
    for field, _, height in CHARTS:
        top = ROWS.at[field][0]
        out.append(f'<rect x="{LEFT}" y="{top}" width="{PLOT}" height="{height}" fill="none" stroke="#afb8c1"/>')
    # Presentation attributes, not CSS: <use> clones inherit them wherever the page's rules apply.
    return f'<g id="frame" font-family="system-ui,sans-serif" font-size="10" fill="#57606a">{"".join(out)}</g>'


def _series(axis: _Axis, hours: dict, field: str, top: float, height: float, scale: float, bucket: int) -> str:
    """A compact SVG path through the values, averaged over `bucket` hours: one x unit per bucket
    (the transform scales it), whole-pixel y, relative steps; broken where an hour has no document."""
    d, previous = [], None
    for i, start in enumerate(range(axis.first, axis.stop, bucket)):
        values = [hours[h][field] for h in range(start, min(start + bucket, axis.stop)) if h in hours]
        if not values:
            previous = None
            continue
        y = round(top + height - min(sum(values) / len(values), scale) / scale * height)
        if previous is None:
            d.append(f"M{i} {y}")
        else:
            # "l" once, then pairs; a minus sign separates a pair's numbers by itself.
            step = f"1{y - previous}" if y < previous else f"1 {y - previous}"
            d.append(("l" if d[-1][0] == "M" else " ") + step)
        previous = y
    width = axis.step * bucket
    return (f'<path d="{"".join(d)}" transform="translate({LEFT + width / 2:.2f} 0) scale({width:.4f} 1)" '
            f'fill="none" stroke="#24292f" stroke-width="1" vector-effect="non-scaling-stroke"/>')


def _acts(records: list, providers: dict) -> dict:
    """{merchant: {(remediation id, outcome): (hour, action)}}: every remediation of the answer key,
    on the merchants it acted on (a provider's: the incident's, or all of that provider's)."""
    acts = defaultdict(dict)
    for record in records:
        outcome = UNMATCHED if record["kind"] == UNMATCHED else WRONG
        for action in record.get("wrong_actions") or ():
            merchants = ([action["merchant_id"]] if "merchant_id" in action else record["merchant_ids"]
                         or [m for m, p in providers.items() if p == action["payment_provider"]])
            for merchant in merchants:
                acts[merchant][action["remediation_id"], outcome] = (hour_of(action["timestamp"]), action["action"])
        if record.get("resolved_by") == REMEDIATION:
            for merchant in record["merchant_ids"]:
                acts[merchant][record["remediation_id"], FIX] = (hour_of(record["resolved_at"]),
                                                                 (record.get("remediation") or ["?"])[0])
    return acts


def _bands(axis: _Axis, bands: list) -> list:
    """One rect per incident, and its kind's short name in the lane above the charts, from the
    band's left edge, where the lane is free up to the next band."""
    out, labels, free = [], [], LEFT
    ordered = sorted(bands, key=lambda r: (r["onset"], r["incident_id"]))
    starts = [axis.edge(hour_of(r["onset"])) for r in ordered]
    for n, record in enumerate(ordered):
        kind = record["kind"]
        x0, x1 = starts[n], axis.edge(hour_of(record["end"]))
        issues = ", ".join(record.get("issues") or []) or "benign look-alike"
        cause = record.get("root_cause") or {}
        out.append(
            f'<rect class="band" data-incident="{_e(record["incident_id"])}" data-kind="{_e(kind)}" '
            f'x="{x0:.1f}" width="{max(x1 - x0, 1):.1f}" height="{ROWS.bottom:.0f}">'
            f'<title>{_e(kind)} {_e(record["incident_id"])}: {_when(hour_of(record["onset"]))} to '
            f'{_when(hour_of(record["end"]))} '
            f'({_e(issues)}; {_e(cause.get("category", "?"))} / {_e(cause.get("component", "?"))})</title></rect>'
        )
        look = _look(kind)
        room = min([x for x in starts[n + 1:] if x > x0] + [WIDTH - RIGHT]) - x0
        width = len(look.short) * CHAR_PX + 4
        if x0 >= free and width <= max(room, x1 - x0):
            labels.append(f'<text class="band-label" data-kind="{_e(kind)}" x="{x0 + 2:.1f}" y="10">'
                          f'{_e(look.short)}</text>')
            free = x0 + width
    return out + labels


def _panel(merchant_id: str, hours: dict, axis: _Axis, bands: list, markers: list, chronic: list,
           acts: dict, bucket: int) -> str:
    body = ['<use href="#frame"/>', *_bands(axis, bands)]
    sessions = [doc["sessions"] for doc in hours.values()]
    for field, _, height in CHARTS:
        top = ROWS.at[field][0]
        if field == "sessions":
            scale, step = _nice(max(sessions + [1]))
            body += _yticks(top, height, scale, step)
        else:
            scale = RATE_SCALES[field][0]
        body.append(_series(axis, hours, field, top, height, scale, bucket))

    top = ROWS.at["location"][0]
    run = None
    for hour in range(axis.first, axis.stop + 1):
        missing = hour < axis.stop and hour in hours and "location" not in hours[hour]
        if missing and run is None:
            run = hour
        elif not missing and run is not None:
            x0, x1 = axis.edge(run), axis.edge(hour)
            body.append(f'<rect class="no-location" x="{x0:.1f}" y="{top}" width="{x1 - x0:.1f}" height="{STRIP}" '
                        f'fill="#57606a"><title>no location {stamp(run)} to {stamp(hour)}</title></rect>')
            run = None

    for finding, outcome in markers:
        top, height = ROWS.at[MARKER_ROW[finding.issue]]
        y = top + height / 2 if finding.issue == MISSING_LOCATION else top + 7
        body.append(f'<use class="finding" data-outcome="{outcome}" href="#marker-{outcome}" '
                    f'x="{axis.centre(finding.hour):.1f}" y="{y:.0f}"><title>{_e(finding.where)}: {_e(finding.issue)} '
                    f'{_when(finding.hour)}, {OUTCOMES[outcome][2]}</title></use>')

    for (remediation_id, outcome), (hour, action) in sorted(acts.items(), key=lambda item: item[1]):
        if not axis.first <= hour < axis.stop:
            continue
        body.append(
            f'<g class="remediation" data-remediation="{_e(remediation_id)}" data-outcome="{outcome}">'
            f'{_remediation_mark(axis.centre(hour), REMEDIATIONS[outcome][0], ROWS.bottom)}<title>{_e(remediation_id)}: {_e(action)} at {stamp(hour)}: {REMEDIATIONS[outcome][1]}</title></g>'
        )

    first = next(iter(hours.values()), {})
    details = " · ".join(_e(first[k]) for k in ("merchant_name", "city", "payment_provider") if k in first)
    tags = "".join(f' <span class="chronic">chronic {_e(label)}</span>' for label in chronic)
    return (f'<div class="panel" data-merchant="{_e(merchant_id)}" id="{_e(merchant_id)}"><h3>{_e(merchant_id)} '
            f'<small>{details}</small>{tags}</h3><svg width="{WIDTH}" height="{ROWS.height:.0f}" '
            f'viewBox="0 0 {WIDTH} {ROWS.height:.0f}" role="img" aria-label="{_e(merchant_id)}">{"".join(body)}'
            f'</svg></div>')


def _remediation_mark(x: float, colour: str, bottom: float = 13) -> str:
    return (f'<line x1="{x:.1f}" x2="{x:.1f}" y1="1" y2="{bottom:.0f}" stroke="{colour}" stroke-width="1.5"/>'
            f'<rect x="{x - 4:.1f}" y="1" width="8" height="8" fill="{colour}" stroke="{OUTLINE}" stroke-width="0.8"/>')


def _swatch(inner: str, width: int = 16) -> str:
    return f'<svg width="{width}" height="13" viewBox="0 0 {width} 13" aria-hidden="true">{inner}</svg>'


def _legend(kinds: list, with_findings: bool, with_remediations: bool) -> str:
    """What the colours, hatches, dashes and markers mean: kept in view while the panels scroll."""
    items = []
    for kind in kinds:
        look = _look(kind)
        what = "harmless look-alike: not to flag" if look.hatch else "incident"
        swatch = _swatch(f'<rect width="16" height="13" style="{_fill(kind)}"/>')
        items.append(f'<span class="kind" data-kind="{_e(kind)}">{swatch}<b style="color:{_shade(look.colour)}">'
                     f'{_e(look.short)}</b>: {_e(kind)} ({what})</span>')
    swatch = _swatch('<rect y="3" width="16" height="7" fill="#57606a"/>')
    items.append(f'<span class="strip">{swatch}hour without location</span>')
    swatch = _swatch('<path d="M0 6.5H16" stroke="#6e7781" stroke-dasharray="4 3"/>')
    items.append(f'<span class="threshold">{swatch}baseline threshold: conversion &lt; {baseline.CONVERSION_BELOW:g} %, '
                 f'errors &gt; {baseline.ERRORS_ABOVE:g} % (its traffic rule, not drawn: sessions &lt; ½ the '
                 f'median of the same hour on the 7 days before)</span>')
    rows = [f'<div class="keys">{"".join(items)}</div>']
    if with_findings:
        keys = "".join(f'<span class="key" data-outcome="{outcome}">'
                       f'{_swatch(f"""<use href="#marker-{outcome}" x="7" y="6.5"/>""", 14)}'
                       f'{name}</span>' for outcome, (_, _, name) in OUTCOMES.items()
                       if with_remediations or outcome != scoring.SIDE_EFFECT)  # side effects: the closed loop only
        rows.append(f'<div class="keys">Findings, on the chart of their label: {keys}</div>')
    if with_remediations:
        keys = "".join(f'<span>{_swatch(_remediation_mark(8, colour))}{name}</span>'
                       for colour, name in REMEDIATIONS.values())
        rows.append(f'<div class="keys">Remediations: {keys}</div>')
    return f'<div class="legend">{"".join(rows)}</div>'


# --- the score --------------------------------------------------------------------------


def _fmt(value, digits: int = 2) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _spread(s: dict, digits: int = 1) -> str:
    return f"median {_fmt(s.get('median'), digits)} / p90 {_fmt(s.get('p90'))} / max {_fmt(s.get('max'))}"


def _known_rows(r: dict) -> list:
    """(metric, value, what it means) for the keys of scoring.Assessment.summary() the report knows."""
    rows = []
    if "incidents" in r:
        i = r["incidents"]
        rows.append(("incidents", f"{i['problems']} problems, {i['lookalikes']} look-alikes",
                     f"in the answer key for the range ({i['acute']} acute, {i['chronic']} chronic); "
                     "look-alikes are harmless, not to flag"))
    if "findings" in r:
        f = r["findings"]
        rows.append(("findings", f"{f['usable']} of {f['lines']} lines usable",
                     f"{f['malformed']} malformed, {f['unknown_label']} unknown label, {f['unrecorded']} "
                     f"unrecorded, {f['outside_range']} outside the range; the rest is scored at "
                     f"{f['times']} times"))
    if "overall" in r:
        o = r["overall"]
        rows += [
            ("detected (tp)", f"{o['tp']} of {o['tp'] + o['fn']}",
             "problems matched by a finding of their merchant and label, in their hours"),
            ("false positives (fp)", o["fp"], "findings that match no incident"),
            ("precision", _fmt(o["precision"]), "tp / (tp + fp): how much of what was flagged was real"),
            ("recall", _fmt(o["recall"]), "tp / (tp + fn): how many of the problems were found"),
            ("F1", _fmt(o["f1"]), "2tp / (2tp + fp + fn): precision and recall in one number"),
        ]
    if "hours_to_detect" in r:
        h = r["hours_to_detect"]
        rows.append(("hours to detect", _spread(h),
                     f"from an acute incident's onset to its first matching finding ({h['count']} detected)"))
    if "nab" in r:
        rows.append(("NAB standard / low FP / low FN", " / ".join(_fmt(v) for v in r["nab"].values()),
                     "Numenta Anomaly Benchmark: early detections score more, false positives cost; "
                     "no findings 0, perfect 100 (low FP / FN: those weigh double)"))
    if "root_cause_accuracy" in r:
        c = r["root_cause_accuracy"]
        s = c["among_stated"]
        rows.append(("root cause category / component", f"{_fmt(c['category'])} / {_fmt(c['component'])}",
                     f"share right over all {c['problems']} problems: a missed one, or one found without a "
                     "cause, counts as wrong"))
        rows.append(("… among those stated", f"{_fmt(s['category'])} / {_fmt(s['component'])}" if s["stated"]
                     else "none stated", f"share right among the {s['stated']} detections that name a root cause"))
    if "lookalike_false_alarms" in r:
        rows.append(("look-alike false alarms", r["lookalike_false_alarms"],
                     "false positives inside a harmless look-alike (promotion, maintenance)"))
    if "mitigation_score" in r:
        rows.append(("mitigation score", _fmt(r["mitigation_score"]),
                     "the closed loop's headline, 0 to 100: fixes, credit halving every 12 hours to mitigate, "
                     "less 0.25 a wrong action"))
    m = r.get("remediation")
    if m:
        h = m["hours_to_mitigate"]
        rows += [
            ("resolved by the agent", f"{h['count']} of {m['remediable']} ({_fmt(m['resolved_by_agent'])})",
             "acute incidents accepting a remediation that the AI's remediation ended"),
            ("hours to mitigate", _spread(h), "from an incident's onset to the hour the AI's fix ended it"),
            ("wrong actions", m["wrong_actions"], "remediations that fixed nothing"),
            ("unresolved", m["unresolved"], "remediable incidents the AI left running"),
            ("malformed remediations", m["malformed"], "remediation documents skipped, listed below"),
        ]
    return rows


KNOWN = {"range", "incidents", "findings", "overall", "per_label", "hours_to_detect", "nab", "root_cause_accuracy",
         "lookalike_false_alarms", "remediation", "mitigation_score"}


def _generic_rows(name: str, value) -> list:
    """A key the report does not know yet: numbers as they are, dicts one row per entry."""
    if isinstance(value, dict):
        return [row for key, sub in value.items() for row in _generic_rows(f"{name}.{key}", sub)]
    if value is None or isinstance(value, (int, float, str)):
        return [(name.replace("_", " "), _fmt(value), "")]
    return [(name.replace("_", " "), json.dumps(value)[:200], "")]


def _score(result: dict) -> str:
    rows = _known_rows(result)
    for key, value in result.items():
        if key not in KNOWN:
            rows += _generic_rows(key, value)
    body = "".join(f'<tr><td class="metric">{_e(m)}</td><td class="value">{_e(v)}</td><td class="why">{_e(w)}</td></tr>'
                   for m, v, w in rows)
    tables = [f'<table class="score"><thead><tr><th>metric</th><th>value</th><th>what it means</th></tr></thead>'
              f'<tbody>{body}</tbody></table>']
    if "per_label" in result:
        cells = "".join(
            f'<tr><td>{_e(label)}</td>' + "".join(f'<td class="n">{_fmt(c.get(k))}</td>'
                                                  for k in ("tp", "fp", "fn", "precision", "recall", "f1")) + "</tr>"
            for label, c in result["per_label"].items())
        tables.append('<table class="per-label"><caption>per label: a finding counts for the label it names, an '
                      'incident with two labels under both</caption><thead><tr><th>label</th><th>tp</th>'
                      '<th>fp</th><th>fn</th><th>precision</th><th>recall</th><th>F1</th></tr></thead>'
                      f'<tbody>{cells}</tbody></table>')
    problems = list(result.get("findings", {}).get("problems", []))
    problems += (result.get("remediation") or {}).get("problems", [])
    listed = f'<ul class="problems">{"".join(f"<li>{_e(p)}</li>" for p in problems)}</ul>' if problems else ""
    return f'<div class="tables">{"".join(tables)}</div>{listed}'


# --- tables of merchants ------------------------------------------------------------------


def _roster(merchants: list, docs: dict, mine: dict) -> str:
    """Every merchant: where, which provider, its chronic profile, its incidents and look-alikes."""
    rows = []
    for merchant_id in merchants:
        located = next((d for d in docs[merchant_id].values() if "city" in d), {})
        any_doc = next(iter(docs[merchant_id].values()), {})
        records = mine[merchant_id]
        chronic = sorted({label for r in records if not r.get("onset") for label in r.get("issues") or []})
        acute = sum(1 for r in records if r.get("onset") and r.get("is_issue"))
        benign = sum(1 for r in records if r.get("onset") and not r.get("is_issue"))
        rows.append(f"<tr><td>{_e(merchant_id)}</td><td>{_e(located.get('city', '-'))}</td>"
                    f"<td>{_e(any_doc.get('payment_provider', '-'))}</td><td>{_e(', '.join(chronic) or '-')}</td>"
                    f"<td>{acute}</td><td>{benign}</td></tr>")
    return ('<h2>Roster</h2><section id="roster"><table class="roster"><thead><tr><th>merchant</th><th>city</th>'
            '<th>provider</th><th>chronic profile</th><th>incidents</th><th>look-alikes</th></tr></thead><tbody>'
            + "".join(rows) + "</tbody></table></section>")


def _summary(merchants: list, problems: dict, markers: dict, assessment, drawn: set) -> str:
    """Per merchant: its problems in the range, how many were detected, its false positives."""
    rows = []
    for m in merchants:
        name = f'<a href="#{_e(m)}">{_e(m)}</a>' if m in drawn else _e(m)
        if assessment is None:
            found = fps = "-"
        else:
            found = sum(r["incident_id"] in assessment.detected for r in problems[m])
            fps = sum(outcome in (scoring.FP, scoring.LOOKALIKE) for _, outcome in markers[m])
        rows.append(f'<tr><td>{name}</td><td class="n">{len(problems[m])}</td><td class="n">{found}</td>'
                    f'<td class="n">{fps}</td></tr>')
    return ('<div class="summary"><table class="summary"><thead><tr><th>merchant</th><th>incidents</th>'
            '<th>detected</th><th>false positives</th></tr></thead><tbody>' + "".join(rows) + "</tbody></table></div>")


# A month of a large roster has thousands of events: the table keeps the file small.
MAX_EVENT_ROWS = 500


def _changes(events: list, records: list) -> str:
    """The change events, each with the incident it caused according to the answer key (or none)."""
    caused = {r["causal_event_id"]: r["incident_id"] for r in records if r.get("causal_event_id")}
    more = len(events) - MAX_EVENT_ROWS
    events = events[:MAX_EVENT_ROWS]
    rows = [f"<tr><td>{_e(event.get('timestamp', ''))}</td>"
            f"<td>{_e(event.get('payment_provider') or event.get('merchant_id') or '-')}</td>"
            f"<td>{_e(event.get('type'))}</td><td>{_e(event.get('component'))}</td><td>{_e(event.get('summary'))}</td>"
            f"<td>{_e(caused.get(event.get('event_id'), '-'))}</td></tr>" for event in events]
    return ('<table class="events"><thead><tr><th>time</th><th>scope</th><th>type</th><th>component</th>'
            '<th>summary</th><th>caused (answer key)</th></tr></thead><tbody>' + "".join(rows) + "</tbody></table>"
            + (f"<p>and {more} more events, not shown</p>" if more > 0 else ""))


def render(meta: dict, start: datetime, end: datetime, observations, records: list, assessment=None,
           events: list = ()) -> str:
    """The report's HTML. meta: header fields in order (scenario, seed, indices...).

    records: the answer key for the range; assessment: scoring.assess() of the findings, or None;
    events: the change events of the range.
    """
    axis = _Axis(hour_index(start), hour_index(end))
    docs = defaultdict(dict)
    for doc in observations:
        docs[doc["merchant_id"]][hour_of(doc["timestamp"])] = doc
    merchants = sorted(docs)
    large = len(merchants) > SUMMARY_OVER
    mine = defaultdict(list)  # merchant: its records
    for record in records:
        if record["kind"] != UNMATCHED:
            for m in record["merchant_ids"]:
                mine[m].append(record)

    def timed(record: dict) -> bool:
        return bool(record.get("onset")) and hour_of(record["onset"]) < axis.stop and hour_of(record["end"]) > axis.first

    bands = {m: [r for r in mine[m] if timed(r)] for m in merchants}
    chronic = {m: sorted({label for r in mine[m] if not r.get("onset") for label in r.get("issues") or []})
               for m in merchants}
    acts = _acts(records, {m: next(iter(hours.values())).get("payment_provider") for m, hours in docs.items()})
    markers = defaultdict(list)
    if assessment is not None:
        for finding, outcome in assessment.outcomes:
            markers[finding.merchant_id].append((finding, outcome))
    drawn = [m for m in merchants if not large or bands[m] or chronic[m] or markers[m] or acts[m]]
    hours = axis.stop - axis.first
    need = max(1, math.ceil(hours / PLOT), math.ceil(hours * len(drawn) * len(CHARTS) / POINTS))
    # A divisor of a day (or whole days): every day sampled at the same hours, no aliasing.
    bucket = next((d for d in (1, 2, 3, 4, 6, 8, 12, 24) if d >= need), 24 * math.ceil(need / 24))
    panels = [_panel(m, docs[m], axis, bands[m], markers[m], chronic[m], acts[m], bucket) for m in drawn]

    kinds = sorted({r["kind"] for m in drawn for r in bands[m]})
    legend = _legend(kinds, assessment is not None, any("resolved_by" in r for r in records))
    patterns = "".join(_pattern(kind, look) for kind, look in KINDS.items() if look.hatch)
    defs = f'<svg class="defs" aria-hidden="true"><defs>{patterns}{_markers()}{_frame(axis)}</defs></svg>'
    score = (_score(assessment.summary()) if assessment is not None
             else "<p>No findings given: pass --findings or --findings-index to score them.</p>")
    header = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in meta.items())
    summary = ""
    if large:
        problems = {m: [r for r in mine[m] if r.get("is_issue") and (timed(r) or not r.get("onset"))]
                    for m in merchants}
        summary = (f'<h2>Merchants</h2><section id="summary"><p>{len(merchants)} merchants; panels below for the '
                   f'{len(drawn)} with incidents, findings or remediations in the range, '
                   f'{"one point an hour" if bucket == 1 else f"one point per {bucket} hours (an average)"}.</p>{_summary(merchants, problems, markers, assessment, set(drawn))}</section>')
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>pp-merchantai report {_e(stamp(axis.first))} to {_e(stamp(axis.stop))}</title>"
        f"<style>{STYLE}{_kind_style()}</style></head><body>{defs}"
        f'<header><h1>pp-merchantai: grading report</h1><dl class="meta">{header}</dl></header>'
        f'<h2>Score</h2><section id="score">{score}</section>{summary}'
        f'<h2>Merchants over time</h2><section id="charts">{legend}{"".join(panels)}</section>'
        f'{"" if large else _roster(merchants, docs, mine)}'
        f'<h2>Change events</h2><section id="events">{_changes(list(events), records)}</section>'
        "</body></html>\n"
    )
