"""One self-contained HTML report: per merchant charts with incident bands and findings, the score, the roster.

Charts are inline SVG drawn here; no script, no network, no external fonts. Stable hooks for
tests: div.panel[data-merchant], rect.band[data-incident][data-kind], .finding[data-outcome],
.remediation[data-remediation][data-outcome].
"""

from __future__ import annotations

import html
from collections import defaultdict
from datetime import datetime

from generator import HIGH_ERROR_RATE, LOW_CONVERSION, MISSING_LOCATION, TRAFFIC_DROP, hour_index, stamp
from grader import scoring
from grader.scoring import hour_of
from remediations import REMEDIATION, UNMATCHED

KIND_COLOURS = {
    "payment_outage": "#d62728",
    "gateway_timeouts": "#ff7f0e",
    "checkout_regression": "#9467bd",
    "location_feed_loss": "#8c564b",
    "traffic_drop": "#1f77b4",
}
BENIGN_COLOUR = "#9e9e9e"
OTHER_COLOUR = "#17becf"
OUTCOME_COLOURS = {scoring.TP: "#1a7f37", scoring.DUPLICATE: "#7fbf8f", scoring.FP: "#cf222e",
                   scoring.LOOKALIKE: "#bf8700"}
OUTCOME_NAMES = {scoring.TP: "detection", scoring.DUPLICATE: "later duplicate", scoring.FP: "false positive",
                 scoring.LOOKALIKE: "look-alike false alarm"}

# The closed loop's remediations, marked on the charts at the hour the AI acted.
FIX, WRONG = "fix", "wrong"
REMEDIATION_COLOURS = {FIX: "#1a7f37", WRONG: "#cf222e", UNMATCHED: "#8250df"}
REMEDIATION_NAMES = {FIX: "remediation that fixed an incident", WRONG: "wrong action on an incident",
                     UNMATCHED: "action with nothing active"}

# Geometry of one merchant's SVG, in px.
WIDTH, LEFT, RIGHT = 1100, 84, 8
CHARTS = (("sessions", "sessions", 70), ("conversion_rate", "conversion %", 46), ("error_rate", "errors %", 46))
STRIP = 9  # hours without location
GAP, AXIS = 6, 16
# Fixed scales for the rates, with the baseline's thresholds drawn: panels compare at a glance.
RATE_SCALES = {"conversion_rate": (100.0, 30.0), "error_rate": (50.0, 15.0)}
# Which chart a finding's marker sits on.
MARKER_ROW = {TRAFFIC_DROP: "sessions", LOW_CONVERSION: "conversion_rate", HIGH_ERROR_RATE: "error_rate",
              MISSING_LOCATION: "location"}

STYLE = """
body{font:13px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:16px 24px;color:#1f2328}
h1{font-size:20px;margin:0 0 6px}h2{font-size:16px;margin:20px 0 6px}
dl.meta{display:grid;grid-template-columns:max-content auto;gap:2px 12px;margin:0}dl.meta dt{color:#57606a}dl.meta dd{margin:0}
pre.score{background:#f6f8fa;padding:8px 12px;border-radius:6px;overflow-x:auto;font-size:12px}
.legend span{display:inline-block;margin:2px 14px 2px 0;white-space:nowrap}
.legend i{display:inline-block;width:14px;height:10px;margin-right:5px;vertical-align:-1px;border-radius:2px}
.panel{margin:6px 0 10px}.panel h3{font-size:13px;margin:0;font-weight:600}.panel h3 small{font-weight:400;color:#57606a}
svg text{font:10px system-ui,sans-serif;fill:#57606a}
table.roster{border-collapse:collapse}table.roster td,table.roster th{padding:2px 10px;border-bottom:1px solid #d0d7de;text-align:left}
.chronic{color:#cf222e}
"""


def _colour(record: dict) -> str:
    if not record.get("is_issue"):
        return BENIGN_COLOUR
    return KIND_COLOURS.get(record["kind"], OTHER_COLOUR)


def _e(value) -> str:
    return html.escape(str(value), quote=True)


class _Axis:
    """Shared time axis: every panel maps hour h to the same x."""

    def __init__(self, first: int, stop: int):
        self.first, self.stop = first, stop
        self.step = (WIDTH - LEFT - RIGHT) / (stop - first)

    def edge(self, hour: int) -> float:
        return LEFT + (min(max(hour, self.first), self.stop) - self.first) * self.step

    def centre(self, hour: int) -> float:
        return self.edge(hour) + self.step / 2


def _line(axis: _Axis, hours: dict, field: str, top: float, height: float, scale: float) -> str:
    """An SVG path through the hourly values, broken where an hour has no document."""
    parts, previous = [], None
    for hour in range(axis.first, axis.stop):
        doc = hours.get(hour)
        if doc is None:
            previous = None
            continue
        y = top + height - min(doc[field], scale) / scale * height
        parts.append(f"{'L' if previous is not None else 'M'}{axis.centre(hour):.1f} {y:.1f}")
        previous = hour
    return f'<path d="{"".join(parts)}" fill="none" stroke="#24292f" stroke-width="1"/>'


def _ticks(axis: _Axis, top: float, bottom: float) -> list:
    """Midnight grid lines and their dates, at most one label per 70 px."""
    days = list(range(-(-axis.first // 24) * 24, axis.stop, 24))
    every = max(1, -(-70 // max(1, int(axis.step * 24))))
    out = []
    for n, hour in enumerate(days):
        x = axis.edge(hour)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{bottom}" stroke="#eaeef2"/>')
        if n % every == 0:
            out.append(f'<text x="{x:.1f}" y="{bottom + 11}" text-anchor="middle">{stamp(hour)[5:10]}</text>')
    return out


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


def _panel(merchant_id: str, hours: dict, axis: _Axis, bands: list, markers: list, chronic: list,
           acts: dict) -> str:
    rows, y = {}, 2.0
    for field, _, height in CHARTS:
        rows[field] = (y, height)
        y += height + GAP
    rows["location"] = (y, STRIP)
    bottom = y + STRIP
    svg_height = bottom + AXIS
    body = _ticks(axis, 2, bottom)

    for record in bands:
        x0, x1 = axis.edge(hour_of(record["onset"])), axis.edge(hour_of(record["end"]))
        labels = ", ".join(record.get("issues") or []) or "benign look-alike"
        cause = record.get("root_cause") or {}
        body.append(
            f'<rect class="band" data-incident="{_e(record["incident_id"])}" data-kind="{_e(record["kind"])}" '
            f'x="{x0:.1f}" y="2" width="{max(x1 - x0, 1):.1f}" height="{bottom - 2:.1f}" '
            f'fill="{_colour(record)}" fill-opacity="0.22"><title>{_e(record["kind"])} {_e(record["incident_id"])}: '
            f'{_e(record["onset"])} to {_e(record["end"])} ({_e(labels)}; '
            f'{_e(cause.get("category", "?"))} / {_e(cause.get("component", "?"))})</title></rect>'
        )

    values = [doc["sessions"] for doc in hours.values()]
    for field, name, height in CHARTS:
        top = rows[field][0]
        if field == "sessions":
            scale = float(max(values + [1]))
            threshold = None
        else:
            scale, threshold = RATE_SCALES[field]
        body.append(f'<rect x="{LEFT}" y="{top}" width="{WIDTH - LEFT - RIGHT}" height="{height}" fill="none" '
                    f'stroke="#d0d7de"/>')
        body.append(f'<text x="{LEFT - 4}" y="{top + 9}" text-anchor="end">{scale:g}</text>')
        body.append(f'<text x="{LEFT - 4}" y="{top + height / 2 + 6:.1f}" text-anchor="end">{_e(name)}</text>')
        if threshold is not None:
            ty = top + height - threshold / scale * height
            body.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{ty:.1f}" y2="{ty:.1f}" stroke="#8c959f" '
                        f'stroke-dasharray="3 3"/>')
        body.append(_line(axis, hours, field, top, height, scale))

    top = rows["location"][0]
    body.append(f'<text x="{LEFT - 4}" y="{top + 8}" text-anchor="end">no location</text>')
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
        top, height = rows[MARKER_ROW[finding.issue]]
        x = axis.centre(finding.hour)
        body.append(
            f'<path class="finding" data-outcome="{outcome}" d="M{x:.1f} {top + 7:.1f}l-4 -7h8z" '
            f'fill="{OUTCOME_COLOURS[outcome]}" stroke="#fff" stroke-width="0.5"><title>{_e(finding.where)}: '
            f'{_e(finding.issue)} at {stamp(finding.hour)}: {OUTCOME_NAMES[outcome]}</title></path>'
        )

    for (remediation_id, outcome), (hour, action) in sorted(acts.items(), key=lambda item: item[1]):
        if not axis.first <= hour < axis.stop:
            continue
        x = axis.centre(hour)
        body.append(
            f'<g class="remediation" data-remediation="{_e(remediation_id)}" data-outcome="{outcome}">'
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="2" y2="{bottom:.1f}" stroke="{REMEDIATION_COLOURS[outcome]}" '
            f'stroke-width="1.5"/><path d="M{x:.1f} 2l4 5l-4 5l-4 -5z" fill="{REMEDIATION_COLOURS[outcome]}"/>'
            f'<title>{_e(remediation_id)}: {_e(action)} at {stamp(hour)}: {REMEDIATION_NAMES[outcome]}</title></g>'
        )

    first = next(iter(hours.values()), {})
    details = " · ".join(_e(first[k]) for k in ("merchant_name", "city", "payment_provider") if k in first)
    tags = "".join(f' <span class="chronic">chronic {_e(label)}</span>' for label in chronic)
    return (f'<div class="panel" data-merchant="{_e(merchant_id)}"><h3>{_e(merchant_id)} <small>{details}</small>'
            f'{tags}</h3><svg width="{WIDTH}" height="{svg_height:.0f}" viewBox="0 0 {WIDTH} {svg_height:.0f}" '
            f'role="img" aria-label="{_e(merchant_id)}">{"".join(body)}</svg></div>')


def _legend(records: list, with_findings: bool, with_remediations: bool) -> str:
    kinds = {}
    for record in records:
        if record.get("onset") and record["kind"] != UNMATCHED:
            kinds[record["kind"]] = (_colour(record), "" if record.get("is_issue") else " (benign)")
    items = [f'<span><i style="background:{colour};opacity:.5"></i>{_e(kind)}{benign}</span>'
             for kind, (colour, benign) in sorted(kinds.items())]
    items.append('<span><i style="background:#57606a"></i>hour without location</span>')
    if with_findings:
        items += [f'<span><i style="background:{OUTCOME_COLOURS[o]}"></i>finding: {OUTCOME_NAMES[o]}</span>'
                  for o in OUTCOME_COLOURS]
    if with_remediations:
        items += [f'<span><i style="background:{colour}"></i>{REMEDIATION_NAMES[o]}</span>'
                  for o, colour in REMEDIATION_COLOURS.items()]
    return f'<div class="legend">{"".join(items)}</div>'


def _roster(merchants: list, docs: dict, records: list) -> str:
    rows = []
    for merchant_id in merchants:
        located = next((d for d in docs[merchant_id].values() if "city" in d), {})
        any_doc = next(iter(docs[merchant_id].values()), {})
        mine = [r for r in records if merchant_id in r["merchant_ids"] and r["kind"] != UNMATCHED]
        chronic = sorted({label for r in mine if not r.get("onset") for label in r.get("issues") or []})
        acute = sum(1 for r in mine if r.get("onset") and r.get("is_issue"))
        benign = sum(1 for r in mine if r.get("onset") and not r.get("is_issue"))
        rows.append(f"<tr><td>{_e(merchant_id)}</td><td>{_e(located.get('city', '-'))}</td>"
                    f"<td>{_e(any_doc.get('payment_provider', '-'))}</td><td>{_e(', '.join(chronic) or '-')}</td>"
                    f"<td>{acute}</td><td>{benign}</td></tr>")
    return ('<table class="roster"><thead><tr><th>merchant</th><th>city</th><th>provider</th>'
            '<th>chronic profile</th><th>incidents</th><th>look-alikes</th></tr></thead><tbody>'
            + "".join(rows) + "</tbody></table>")


def _changes(events: list, records: list) -> str:
    """The change events, each with the incident it caused according to the answer key (or none)."""
    caused = {r["causal_event_id"]: r["incident_id"] for r in records if r.get("causal_event_id")}
    rows = [f"<tr><td>{_e(event.get('timestamp', ''))}</td>"
            f"<td>{_e(event.get('payment_provider') or event.get('merchant_id') or '-')}</td>"
            f"<td>{_e(event.get('type'))}</td><td>{_e(event.get('component'))}</td><td>{_e(event.get('summary'))}</td>"
            f"<td>{_e(caused.get(event.get('event_id'), '-'))}</td></tr>" for event in events]
    return ('<table class="roster"><thead><tr><th>time</th><th>scope</th><th>type</th><th>component</th>'
            '<th>summary</th><th>caused (answer key)</th></tr></thead><tbody>' + "".join(rows) + "</tbody></table>")


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
    timed = [r for r in records if r.get("onset") and r["kind"] != UNMATCHED and hour_of(r["onset"]) < axis.stop
             and hour_of(r["end"]) > axis.first]
    acts = _acts(records, {m: next(iter(hours.values())).get("payment_provider") for m, hours in docs.items()})
    markers = defaultdict(list)
    if assessment is not None:
        for finding, outcome in assessment.outcomes:
            markers[finding.merchant_id].append((finding, outcome))
    panels = [
        _panel(m, docs[m], axis, [r for r in timed if m in r["merchant_ids"]], markers[m],
               sorted({label for r in records if not r.get("onset") and m in r["merchant_ids"]
                       for label in r.get("issues") or []}), acts[m])
        for m in merchants
    ]
    score = (f'<pre class="score">{_e(scoring.table(assessment.summary()))}</pre>' if assessment is not None
             else "<p>No findings given: pass --findings or --findings-index to score them.</p>")
    header = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in meta.items())
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>pp-merchantai report {_e(stamp(axis.first))} to {_e(stamp(axis.stop))}</title>"
        f"<style>{STYLE}</style></head><body>"
        f'<header><h1>pp-merchantai: grading report</h1><dl class="meta">{header}</dl></header>'
        f'<h2>Score</h2><section id="score">{score}</section>'
        f'<h2>Merchants over time</h2><section id="charts">{_legend(timed, assessment is not None, any("resolved_by" in r for r in records))}'
        f'{"".join(panels)}</section>'
        f'<h2>Roster</h2><section id="roster">{_roster(merchants, docs, records)}</section>'
        f'<h2>Change events</h2><section id="events">{_changes(list(events), records)}</section>'
        "</body></html>\n"
    )
