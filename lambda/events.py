"""Change events: what an operator's change log and status pages show. Pure, like the generator.

Deploys, configuration changes, provider status notices, maintenance notices and
campaigns. Some precede an incident as its cause: its kind's catalog.Cause, with that
probability, timed a seeded lead before the onset (a status page lags it instead).
Many more cause nothing (red herrings): every merchant has HERRINGS_PER_MERCHANT
routine events a week and every payment provider HERRINGS_PER_PROVIDER notices (one
stream a week, drawn merchant after merchant, so merchant k's depend on merchants
1..k only and adding merchants changes none of them), so
over any 30 days they outnumber the causes at least twice, by construction. Both are
written by one function per type from the same draws, so nothing in an event says
which it is: the answer key names the causes (causal_event_id).

The events of hour h are those timed within it: so a run of hour h alone writes the
same events as a range containing it, an event is worked out from the incidents whose
onset lies up to MAX_LEAD_HOURS after it (a maintenance notice three days ahead) or
MAX_LAG_HOURS before it (a status page that lags an outage).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import generator
from catalog import HARD_KINDS, KINDS

EVENT_TYPES = ("deploy", "config_change", "provider_status", "maintenance_notice", "campaign")
WEEK_HOURS = 168
HERRINGS_PER_MERCHANT = 2  # a week
HERRINGS_PER_PROVIDER = 1  # a week, on each of generator.PAYMENT_PROVIDERS
# What a merchant's routine events are, drawn alike: the causes' own types and components among them.
MERCHANT_HERRINGS = (
    ("deploy", "checkout"), ("deploy", "storefront"), ("deploy", "search"),
    ("config_change", "payment_gateway"), ("config_change", "fraud_rules"), ("config_change", "storefront_dns"),
    ("campaign", "marketing"), ("maintenance_notice", "planned_maintenance"),
)
_LEADS = [kind.cause.lead_minutes for kind in KINDS + HARD_KINDS if kind.cause]
MAX_LEAD_HOURS = math.ceil(max(lead for _, lead in _LEADS) / 60)
MAX_LAG_HOURS = math.ceil(max(0, -min(lead for lead, _ in _LEADS)) / 60)

# Settings a configuration change may touch, by component: (setting, values it takes).
SETTINGS = {
    "payment_gateway": (("timeout_ms", (5000, 15000, 500)), ("retry_limit", (0, 5, 1)), ("3ds_threshold", (0, 500, 50))),
    "fraud_rules": (("velocity_limit", (5, 50, 5)), ("risk_score_threshold", (40, 95, 5)), ("review_queue_limit", (50, 500, 50))),
    "storefront_dns": (("cname_target", None), ("a_record", None), ("ttl_seconds", (60, 3600, 60))),
    # SCENARIO=hard's causes.
    "pricing": (("markup_percent", (0, 60, 5)), ("discount_percent", (0, 50, 5)), ("rounding_cents", (0, 99, 1))),
    "merchant_record": (("address_version", (1, 40, 1)), ("geo_precision", (1, 9, 1)), ("contact_version", (1, 40, 1))),
}
STATUSES = (("investigating", "major", "elevated authorisation failures"),
            ("investigating", "minor", "elevated latency for some card payments"),
            ("monitoring", "minor", "degraded performance in one region"),
            ("resolved", "none", "a brief delay in settlement reports"))
CAMPAIGNS = ("flash-sale", "newsletter", "loyalty-week", "app-launch", "weekend-deal", "clearance")


@dataclass(frozen=True)
class Event:
    event_id: str
    minute: int  # minutes since the epoch
    merchant_ids: tuple  # () when a payment provider's
    provider: str | None
    type: str
    component: str
    summary: str
    details: tuple  # ((key, value), ...)

    def source(self) -> dict:
        """The event document (es.EVENTS_MAPPINGS): merchant_id, a list when it names several, or payment_provider."""
        doc = {"event_id": self.event_id, "timestamp": _stamp(self.minute)}
        if self.provider:
            doc["payment_provider"] = self.provider
        else:
            doc["merchant_id"] = self.merchant_ids[0] if len(self.merchant_ids) == 1 else list(self.merchant_ids)
        doc.update(type=self.type, component=self.component, summary=self.summary, details=dict(self.details))
        return doc


def _stamp(minute: int) -> str:
    """%Y-%m-%dT%H:%M:00Z of a minute since the epoch: its hour's stamp, with the minute."""
    return f"{generator.stamp(minute // 60)[:14]}{minute % 60:02d}:00Z"


def _value(rng, spec, component: str) -> str:
    if spec is None:  # a DNS target
        return f"{rng.choice(('edge', 'shop', 'www'))}-{rng.randrange(1, 9)}.{component.split('_')[0]}.example.net"
    lo, hi, step = spec
    return str(rng.randrange(lo, hi + 1, step))


def _describe(rng, kind: str, component: str, scope: str, minute: int, context: dict) -> tuple:
    """(summary, details) of an event; context (a cause's) fixes what a red herring draws."""
    if kind == "deploy":
        major, minor, patch = rng.randrange(1, 10), rng.randrange(1, 40), rng.randrange(0, 20)
        channel = context.get("channel") or rng.choice(generator.CHANNELS)
        version, previous = f"{major}.{minor}.{patch}", f"{major}.{minor - 1}.{rng.randrange(0, 20)}"
        return (f"Deployed {component} {version} to the {channel} ({scope})",
                (("version", version), ("previous_version", previous), ("channel", channel)))
    if kind == "config_change":
        setting, spec = context.get("setting") or rng.choice(SETTINGS[component])
        new = context.get("new_value") or _value(rng, spec, component)
        old = _value(rng, spec, component)
        # A cause lowers its value (the gateway's timeout); any other change may go either way.
        while old == new or (context.get("new_value") and int(old) < int(new)):
            old = _value(rng, spec, component)
        return (f"Changed {component} {setting} from {old} to {new} ({scope})",
                (("setting", setting), ("old_value", old), ("new_value", new)))
    if kind == "provider_status":
        status, impact, topic = context.get("status") or rng.choice(STATUSES)
        return f"{scope} status: {status} ({impact} impact): {topic}", (("status", status), ("impact", impact))
    start, end = context.get("window") or _window(rng, minute // 60)
    if kind == "maintenance_notice":
        return (f"Planned maintenance of {scope} from {generator.stamp(start)} to {generator.stamp(end)}: "
                "brief interruptions possible", (("window_start", generator.stamp(start)), ("window_end", generator.stamp(end))))
    name, discount = rng.choice(CAMPAIGNS), rng.randrange(10, 55, 5)
    return (f"Campaign {name} for {scope}: {discount} % off from {generator.stamp(start)}",
            (("campaign", name), ("discount_percent", discount), ("window_start", generator.stamp(start)),
             ("window_end", generator.stamp(end))))


def _window(rng, h: int) -> tuple:
    """A red herring's announced window: 24-72 hours ahead, 2-6 hours long."""
    start = h + rng.randint(24, 72)
    return start, start + rng.randint(2, 6)


def _event(rng, kind: str, component: str, merchant_ids: tuple, provider: str | None, minute: int,
           context: dict) -> Event:
    scope = provider or ", ".join(merchant_ids)
    summary, details = _describe(rng, kind, component, scope, minute, context)
    # <type>-<first merchant or provider>-<YYYYMMDDHHMM>-<8 hex digits drawn>: unique, and it says nothing more.
    event_id = f"{kind}-{provider or merchant_ids[0]}-{generator.hour_id(minute // 60)}{minute % 60:02d}" \
               f"-{rng.getrandbits(32):08x}"
    return Event(event_id, minute, merchant_ids, provider, kind, component, summary, details)


def cause(seed: int, incident) -> Event | None:
    """The change event that caused an incident (incidents.Incident), if its kind's Cause drew one:
    from the incident's own stream, so the answer key and the change log agree."""
    spec = incident.kind.cause
    if spec is None or incident.onset is None:
        return None
    rng = generator.seeded(seed, "cause", incident.incident_id)
    if rng.random() >= spec.probability:
        return None
    minute = incident.onset * 60 - rng.randint(*spec.lead_minutes)
    component = spec.component.format(provider=incident.provider)
    context = {}
    if spec.type == "deploy":
        context["channel"] = incident.channel
    elif spec.type == "config_change" and component == "payment_gateway":
        # The gateway's timeout, lowered to where the incident pins the latency.
        timeout = str(round(incident.latency_ms / 100) * 100) if incident.latency_ms else None
        context.update(setting=SETTINGS[component][0], new_value=timeout)
    elif spec.type == "config_change":
        context["setting"] = rng.choice(SETTINGS[component][:2])
    elif spec.type == "provider_status":
        context["status"] = STATUSES[0]
    else:  # maintenance_notice, campaign: the window of the incident itself
        context["window"] = (incident.onset, incident.end)
    # A provider's event names the provider alone: it is the same whichever merchants a roster has on it.
    merchant_ids = () if incident.provider else incident.merchant_ids
    return _event(rng, spec.type, component, merchant_ids, incident.provider, minute, context)


class ChangeLog:
    """The change events of one (seed, scenario, roster), per hour.

    schedule: an incidents.Schedule (its onsets(h0, h1)); merchants: its roster.
    """

    def __init__(self, schedule, merchants: list):
        self._schedule = schedule
        self._seed = schedule.seed
        self._merchants = merchants
        self._week_cached = None
        self._week_events: list = []
        self._hours: dict = {}  # of the cached week: {epoch hour: its events}
        self._causes: dict = {}  # {incident id: its cause or None}: neighbouring weeks ask again

    def _herrings(self, week: int) -> list:
        start = week * WEEK_HOURS * 60
        found = []
        rng = generator.seeded(self._seed, "herrings", week)
        for m in sorted(self._merchants, key=lambda m: m.k):
            for _ in range(HERRINGS_PER_MERCHANT):
                minute = start + rng.randrange(WEEK_HOURS * 60)
                kind, component = rng.choice(MERCHANT_HERRINGS)
                found.append(_event(rng, kind, component, (m.merchant_id,), None, minute, {}))
        for provider in generator.PAYMENT_PROVIDERS:
            rng = generator.seeded(self._seed, "herrings", week, provider)
            for _ in range(HERRINGS_PER_PROVIDER):
                minute = start + rng.randrange(WEEK_HOURS * 60)
                found.append(_event(rng, "provider_status", f"payment_provider:{provider}", (), provider, minute, {}))
        return found

    def week(self, week: int) -> list:
        """Every event of the week, by time then id."""
        if week != self._week_cached:
            h0, h1 = week * WEEK_HOURS, (week + 1) * WEEK_HOURS
            incidents = self._schedule.onsets(h0 - MAX_LAG_HOURS - 1, h1 + MAX_LEAD_HOURS + 1)
            known, self._causes = self._causes, {}
            for incident in incidents:
                key = incident.incident_id
                self._causes[key] = known[key] if key in known else cause(self._seed, incident)
            found = [event for event in self._causes.values() if event is not None] + self._herrings(week)
            self._week_events = sorted((event for event in found if h0 * 60 <= event.minute < h1 * 60),
                                       key=lambda event: (event.minute, event.event_id))
            self._hours = {}
            for event in self._week_events:
                self._hours.setdefault(event.minute // 60, []).append(event)
            self._week_cached = week
        return self._week_events

    def at(self, h: int) -> list:
        """The events timed within hour h, by time then id."""
        self.week(h // WEEK_HOURS)
        return self._hours.get(h, [])

    def between(self, h0: int, h1: int) -> list:
        """The events of hours [h0, h1), by time then id."""
        return [event for week in range(h0 // WEEK_HOURS, (h1 - 1) // WEEK_HOURS + 1) for event in self.week(week)
                if h0 * 60 <= event.minute < h1 * 60]
