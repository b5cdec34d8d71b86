"""Incidents over time and the answer key: pure, like the generator (no I/O, no clock).

Every kind is one entry of catalog.CATALOG: its scope, labels, plateau effects, root
cause and accepted remediations. An incident is an explicit interval of hours
(onset, ramp, plateau, recovery, end) on a merchant or a payment provider; the
generator looks up the incidents active at an hour and moves the documents
toward each one's plateau (generator._effects).

SCENARIO=incidents places catalog incidents structurally, so the frequency
rules hold for every seed and every 30-day window, whatever the roster size:
- time runs in weeks (WEEK_HOURS, from the epoch); no incident leaves its week,
  so the incidents at an hour are those of its week;
- each week has one payment_outage on one provider, and no merchant incident
  overlaps it (providers hold at most 3 merchants in 10, generator.PROVIDER_SHARES);
- merchants k = 2g+1, 2g+2 form group g, which has one incident slot a week on
  one of its two merchants: at most half of the merchants are ever in an acute
  incident at once;
- the slots of each 10 consecutive groups take the 10 kinds of GROUP_KINDS in a
  seeded order every week: every kind occurs every week from 20 merchants on.
Every draw comes from its own stream keyed by (seed, week, group), so adding
merchants changes no existing merchant's incidents.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import config
import events
import generator
import ledger
import remediations
import scenario
from catalog import CATALOG, MAX_SESSION_FACTOR, MAX_SIDE_EFFECT_HOURS, SIDE_EFFECTS, Kind
from generator import HIGH_ERROR_RATE


WEEK_HOURS = 168
GROUP_SIZE = 2
# Local hours at which a night kind's onset ramp may begin: its plateau then falls in 01:00-05:00.
NIGHT_ONSET_HOURS = (0, 1)
# Scenario-file incidents' ids: file-<kind>-<scope>-<YYYYMMDDHH onset>.
FILE_ID_PREFIX = "file-"


# SCENARIO=hard: every 20 consecutive merchants (k = 20b+1 .. 20b+20) take these kinds, one slot
# each, in a seeded order every week; the week's two provider incidents take its two halves.
HARD_BLOCK = 20
HARD_SLOT_KINDS = (
    "timeout_misconfiguration", "fraud_rules_too_strict", "expired_credentials",
    "channel_checkout_regression", "channel_checkout_regression", "pricing_error", "pricing_error",
    "three_ds_failure", "three_ds_failure", "dns_misconfiguration", "app_crash_release", "cdn_outage",
    "location_feed_outage", "merchant_record_edit", "geocoder_outage",
    "bot_traffic", "bot_traffic", "bot_traffic", "campaign", "campaign",
)
HALF_WEEK = WEEK_HOURS // 2

# The kinds of the weekly slots of 10 consecutive merchant groups, in a seeded order each week.
GROUP_KINDS = (
    "gateway_timeouts", "gateway_timeouts", "checkout_regression", "checkout_regression",
    "location_feed_loss", "location_feed_loss", "traffic_drop", "traffic_drop",
    "promo_surge", "maintenance_window",
)


@dataclass(frozen=True)
class Incident:
    incident_id: str
    kind: Kind
    positions: tuple  # roster positions of the merchants in scope
    merchant_ids: tuple
    provider: str | None
    # Epoch hours; None for chronic profiles. The onset ramp is [onset, plateau_start),
    # the recovery ramp [recovery_start, end); end is exclusive.
    onset: int | None
    plateau_start: int | None
    recovery_start: int | None
    end: int | None
    # Plateau windows (centre, amplitude) inside the kind's ranges, and the sessions factor.
    conversion: tuple | None = None
    errors: tuple | None = None
    sessions: float | None = None
    # With REMEDIATION=on, waits for an accepted remediation (or the cap) instead of ending as planned.
    requires_action: bool = False
    # The evidence at the plateau (drawn from the incident's own stream, evidence()): a factor on
    # the usual p95 latency or a level in ms, and the channel a "one"-channel kind hits.
    latency_factor: float | None = None
    latency_ms: float | None = None
    channel: str | None = None
    # Relative effects (the hard tier, drawn from the incident's own stream too): a factor on the
    # usual conversion, a multiple of max(usual, 4) points added to the errors, and for an
    # intermittent kind its cycle (hours on, hours off) from the onset.
    conversion_factor: float | None = None
    error_boost: float | None = None
    cycle: tuple | None = None
    side_effect_of: str | None = None  # a side effect's: the id of the remediation that did it

    # What generator._effects reads.
    labels = property(lambda self: self.kind.labels)
    conversion_range = property(lambda self: self.kind.conversion)
    error_range = property(lambda self: self.kind.errors)
    drops_location = property(lambda self: self.kind.drops_location)

    def fraction(self, h: int) -> float:
        """The share of the plateau's effect at hour h; 0 in the off hours of an intermittent one."""
        if self.cycle and h < self.recovery_start and (h - self.onset) % (self.cycle[0] + self.cycle[1]) >= self.cycle[0]:
            return 0.0
        return self._fraction(h)

    def _fraction(self, h: int) -> float:
        """The share of the plateau's effect at hour h (inside [onset, end)): (i + 1) / (n + 1)
        at the i-th of n ramp hours, so ramps lie strictly between normal and plateau.

        A remediation during the onset ramp starts the recovery before the plateau: it
        ramps down from the share reached, so no hour before the remediation changes.
        """
        if h < self.plateau_start and h < self.recovery_start:
            return (h - self.onset + 1) / (self.plateau_start - self.onset + 1)
        if h < self.recovery_start:
            return 1.0
        down = 1.0 - (h - self.recovery_start + 1) / (self.end - self.recovery_start + 1)
        if self.recovery_start < self.plateau_start:
            return (self.recovery_start - self.onset) / (self.plateau_start - self.onset + 1) * down
        return down

    def record(self, scenario: str, seed: int) -> dict:
        """The answer-key record (JSON-ready): it carries config.seed_digest of the seed, never the seed."""
        kind = self.kind
        scope = self.provider or ", ".join(self.merchant_ids)
        record = {"incident_id": self.incident_id, "kind": kind.name, "is_issue": kind.is_issue,
                  "issues": list(kind.labels), "merchant_ids": list(self.merchant_ids)}
        if self.provider:
            record["payment_provider"] = self.provider
        record["root_cause"] = {"category": kind.category, "component": kind.component.format(provider=self.provider),
                                "description": kind.description.format(scope=scope, provider=self.provider)}
        for field in ("onset", "plateau_start", "recovery_start", "end"):
            h = getattr(self, field)
            record[field] = None if h is None else generator.stamp(h)
        record.update(remediation=list(kind.remediation), scenario=scenario, seed_digest=config.seed_digest(seed))
        caused_by = events.cause(seed, self)
        if caused_by is not None:
            record["causal_event_id"] = caused_by.event_id
        return record


def evidence(seed: int, kind: Kind, incident_id: str) -> tuple:
    """(latency factor, latency level in ms, channel hit alone) of an incident, each None unless
    its kind declares it: from a stream of the incident's own, so no earlier draw moves."""
    rng = generator.seeded(seed, "incident-evidence", incident_id)
    factor = rng.uniform(*kind.latency_factor) if kind.latency_factor else None
    level = rng.uniform(*kind.latency_ms) if kind.latency_ms else None
    channel = rng.choice(generator.CHANNELS) if kind.channel == "one" else None
    return factor, level, kind.channel if kind.channel in generator.CHANNELS else channel


def relative(seed: int, kind: Kind, incident_id: str) -> tuple:
    """(conversion factor, error boost, cycle) of an incident, each None unless its kind declares
    it: from a stream of the incident's own, so no earlier draw moves."""
    rng = generator.seeded(seed, "incident-relative", incident_id)
    conversion = rng.uniform(*kind.conversion_factor) if kind.conversion_factor else None
    boost = rng.uniform(*kind.error_boost) if kind.error_boost else None
    cycle = (rng.randint(*kind.cycle_on), rng.randint(*kind.cycle_off)) if kind.cycle_on else None
    return conversion, boost, cycle


def _order(incident: Incident) -> tuple:
    return incident.onset, incident.incident_id


class Schedule:
    """The incidents of one (seed, scenario, roster): per hour for the generator, per range for the answer key.

    scenario: a scenario.Scenario (base "steady" or "incidents", plus a file's incidents).
    """

    def __init__(self, seed: int, scenario, merchants: list, remediation: bool = False):
        self.seed = seed
        self.seed_digest = config.seed_digest(seed)
        self.scenario = scenario
        self.max_session_factor = MAX_SESSION_FACTOR
        self.noise = scenario.noise
        self._merchants = merchants
        self._position = {m.k: i for i, m in enumerate(merchants)}
        self._by_id = {m.merchant_id: i for i, m in enumerate(merchants)}
        self._providers: dict = {}
        for i, m in enumerate(merchants):
            self._providers.setdefault(m.payment_provider, []).append(i)
        self._catalog = scenario.base in ("incidents", "hard")
        # hard: labels are relative to each merchant's usual values, so a chronic profile is its usual.
        self.relative = scenario.base == "hard"
        self._chronic = [
            [] if self.relative else
            [self._incident(CATALOG[label], f"{label}-{m.merchant_id}", (i,), None, None, None, 0, 0, 0)
             for label in m.issues]
            for i, m in enumerate(merchants)
        ]
        self._file = [incident for spec in scenario.incidents if (incident := self._from_file(spec))]
        self._week_cached = None
        self._week_incidents: list = []
        self._week_hours: dict = {}  # of the cached week: {hour: its acute incidents, in the list's order}
        self._weeks: dict = {}  # _week's
        # REMEDIATION=on: incidents that require action are held until fixed or capped
        # (remediations.planned); resolve() brings in the fixes and wrong actions.
        self._remediation = remediation
        self._outcomes: dict = {}
        self._unmatched: list = []
        self._side_effects: list = []

    # --- building incidents ---------------------------------------------------------------

    def _incident(self, kind, incident_id, positions, provider, rng, onset, ramp, plateau, recovery,
                  requires_action=None):
        chronic = onset is None
        latency_factor, latency_ms, channel = (None, None, None) if chronic else evidence(self.seed, kind, incident_id)
        conversion_factor, error_boost, cycle = (None, None, None) if chronic else relative(self.seed, kind, incident_id)
        return Incident(
            incident_id, kind, tuple(positions), tuple(self._merchants[i].merchant_id for i in positions), provider,
            onset, None if chronic else onset + ramp, None if chronic else onset + ramp + plateau,
            None if chronic else onset + ramp + plateau + recovery,
            generator.window(rng, *kind.conversion) if kind.conversion and rng else None,
            generator.window(rng, *kind.errors) if kind.errors and rng else None,
            rng.uniform(*kind.sessions) if kind.sessions and rng else None,
            bool(kind.remediation) if requires_action is None else requires_action,
            latency_factor, latency_ms, channel, conversion_factor, error_boost, cycle,
        )

    def _from_file(self, spec):
        kind = CATALOG[spec.kind]
        if spec.payment_provider:
            positions, scope = self._providers.get(spec.payment_provider, []), spec.payment_provider
        else:
            positions = [self._position[k] for k in spec.merchants if k in self._position]
            scope = "+".join(f"merchant_{k:03d}" for k in spec.merchants)
        if not positions:
            return None
        key = f"{kind.name}-{scope}-{generator.hour_id(spec.start)}"
        ramp = kind.ramp_hours[0] if spec.ramp_hours is None else spec.ramp_hours
        recovery = kind.recovery_hours[0] if spec.recovery_hours is None else spec.recovery_hours
        # An id of its own: a file incident never merges with the catalog's of the same kind,
        # scope and onset (scenario.load refuses two such in one file). The draws keep the key.
        return self._incident(kind, FILE_ID_PREFIX + key, positions, spec.payment_provider,
                              generator.seeded(self.seed, "scenario", key), spec.start, ramp, spec.hours, recovery,
                              spec.requires_action)

    def _week(self, week: int) -> list:
        """Catalog incidents of one week, as planned: the hard tier's (_hard_week), or the payment
        outage, then one slot per merchant group (_planned_week).

        Kept for the last few weeks asked: the generator, the change log (which looks a week
        ahead and behind) and the answer key ask for the same weeks in turn."""
        if week in self._weeks:
            return self._weeks[week]
        if len(self._weeks) >= 4:
            del self._weeks[next(iter(self._weeks))]
        self._weeks[week] = self._hard_week(week) if self.relative else self._planned_week(week)
        return self._weeks[week]

    def _planned_week(self, week: int) -> list:
        start = week * WEEK_HOURS
        kind = CATALOG["payment_outage"]
        rng = generator.seeded(self.seed, "outage", week)
        provider = rng.choice(generator.PAYMENT_PROVIDERS)
        ramp, plateau, recovery = (rng.randint(*kind.ramp_hours), rng.randint(*kind.plateau_hours),
                                   rng.randint(*kind.recovery_hours))
        outage_start = rng.randrange(WEEK_HOURS - (ramp + plateau + recovery) + 1)
        outage_end = outage_start + ramp + plateau + recovery
        incidents = []
        positions = self._providers.get(provider)
        if positions:
            onset = start + outage_start
            incident_id = f"{kind.name}-{provider}-{generator.hour_id(onset)}"
            incidents.append(self._incident(kind, incident_id, positions, provider, rng, onset, ramp, plateau, recovery))
        groups = -(-max(self._position, default=0) // GROUP_SIZE)
        for group in range(groups):
            turn, place = divmod(group, len(GROUP_KINDS))
            if place == 0:
                order = generator.seeded(self.seed, "kinds", week, turn).sample(GROUP_KINDS, len(GROUP_KINDS))
            incident = self._slot(week, group, CATALOG[order[place]], outage_start, outage_end)
            if incident:
                incidents.append(incident)
        return incidents

    def _hard_week(self, week: int) -> list:
        """SCENARIO=hard's incidents of one week: a provider outage in one half of the week, an
        announced maintenance in each half (three providers), and one slot per merchant (docs/scenarios.md#how-hard-places-them)."""
        start = week * WEEK_HOURS
        rng = generator.seeded(self.seed, "hard-week", week)
        providers = rng.sample(generator.PAYMENT_PROVIDERS, 3)
        incidents, outage = [], None
        for name, provider, half in zip(("provider_outage", "provider_maintenance", "provider_maintenance"), providers,
                                        (rng.randrange(2), 0, 1)):
            kind = CATALOG[name]
            ramp, plateau, recovery = (rng.randint(*kind.ramp_hours), rng.randint(*kind.plateau_hours),
                                       rng.randint(*kind.recovery_hours))
            onset = start + half * HALF_WEEK + rng.randrange(HALF_WEEK - (ramp + plateau + recovery) + 1)
            positions = self._providers.get(provider)
            if positions:
                incident = self._incident(kind, f"{name}-{provider}-{generator.hour_id(onset)}", positions, provider,
                                          rng, onset, ramp, plateau, recovery)
                incidents.append(incident)
                outage = incident if name == "provider_outage" else outage
        for block in range(-(-max(self._position, default=0) // HARD_BLOCK)):
            numbers = range(HARD_BLOCK * block + 1, HARD_BLOCK * (block + 1) + 1)
            kinds = dict(zip(numbers, generator.seeded(self.seed, "hard-kinds", week, block).sample(
                HARD_SLOT_KINDS, HARD_BLOCK)))
            located = {k: generator.has_location(self.seed, k) for k in numbers}
            for k in numbers:
                # A location can only be lost where there is one: swap with the next merchant that has one.
                if CATALOG[kinds[k]].drops_location and not located[k]:
                    for j in (*range(k + 1, numbers[-1] + 1), *range(numbers[0], k)):
                        if located[j] and not CATALOG[kinds[j]].drops_location:
                            kinds[k], kinds[j] = kinds[j], kinds[k]
                            break
            # The first merchant of the outage's provider in block 0 with a problem of another
            # label has it during the outage: two incidents at once. (The first in the roster: one
            # beyond it would have no incident, and then neither has any later one.)
            inside = None
            if block == 0 and outage is not None:
                inside = next((k for k in numbers if CATALOG[kinds[k]].is_issue
                               and HIGH_ERROR_RATE not in CATALOG[kinds[k]].labels and k in self._position
                               and self._merchants[self._position[k]].payment_provider == outage.provider), None)
            for k in numbers:
                position = self._position.get(k)
                if position is not None:
                    incidents.append(self._hard_slot(week, position, CATALOG[kinds[k]], outage if k == inside else None))
        return incidents

    def _hard_slot(self, week: int, position: int, kind: Kind, outage):
        """One merchant's hard incident of a week, inside the week; overlapping outage when given."""
        m = self._merchants[position]
        rng = generator.seeded(self.seed, "hard-slot", week, m.k)
        ramp, plateau, recovery = (rng.randint(*kind.ramp_hours), rng.randint(*kind.plateau_hours),
                                   rng.randint(*kind.recovery_hours))
        length = ramp + plateau + recovery
        lo, hi = week * WEEK_HOURS, (week + 1) * WEEK_HOURS - length
        if outage is not None:
            lo, hi = max(lo, outage.onset - length + 1), min(hi, outage.end - 1)
        onset = rng.randint(lo, hi)
        return self._incident(kind, f"{kind.name}-{m.merchant_id}-{generator.hour_id(onset)}", (position,), None,
                              rng, onset, ramp, plateau, recovery)

    def _slot(self, week: int, group: int, kind: Kind, outage_start: int, outage_end: int):
        """The incident of one merchant group in one week, outside the week's outage."""
        rng = generator.seeded(self.seed, "slot", week, group)
        first = GROUP_SIZE * group + 1
        k = first + rng.randrange(GROUP_SIZE)
        if generator.already_shows(self.seed, k, kind.labels):
            # Invisible on a merchant whose profile already shows its labels (a feed cannot stop
            # where there never was a location): the other merchant, or a traffic drop.
            k = first + (k == first)
            if generator.already_shows(self.seed, k, kind.labels):
                kind = CATALOG["traffic_drop"]
        position = self._position.get(k)
        if position is None:
            return None
        ramp, plateau, recovery = (rng.randint(*kind.ramp_hours), rng.randint(*kind.plateau_hours),
                                   rng.randint(*kind.recovery_hours))
        length = ramp + plateau + recovery
        # Offsets in the week where the whole incident fits beside the outage.
        before = max(0, outage_start - length + 1)
        after = max(0, WEEK_HOURS - length - outage_end + 1)
        if kind.night:
            offset_minutes = self._merchants[position].utc_offset_minutes
            starts = [o for o in [*range(before), *range(outage_end, outage_end + after)]
                      if generator.local_hour(week * WEEK_HOURS + o, offset_minutes) in NIGHT_ONSET_HOURS]
            offset = starts[rng.randrange(len(starts))]
        else:
            offset = rng.randrange(before + after)
            offset = offset if offset < before else outage_end + offset - before
        onset = week * WEEK_HOURS + offset
        return self._incident(kind, f"{kind.name}-{self._merchants[position].merchant_id}-{generator.hour_id(onset)}",
                              (position,), None, rng, onset, ramp, plateau, recovery)

    def _week_list(self, week: int) -> list:
        """Every acute incident overlapping the week, by onset then id: the order in which
        overlapping incidents of one merchant apply, each on top of the ones before."""
        if week != self._week_cached:
            start, end = week * WEEK_HOURS, (week + 1) * WEEK_HOURS
            catalog = []
            if self._catalog:
                # A held incident (7 days at most, plus its recovery) reaches into the second week after its own.
                for w in range(week - 2, week + 1) if self._remediation else (week,):
                    catalog += self._week(w)
            found = catalog + self._file
            if self._remediation:
                found = [self._shaped(incident) for incident in found] + self._side_effects
            self._week_incidents = sorted(
                (incident for incident in found if incident.onset < end and incident.end > start), key=_order)
            self._week_hours = {}
            for incident in self._week_incidents:
                for h in range(max(incident.onset, start), min(incident.end, end)):
                    self._week_hours.setdefault(h, []).append(incident)
            self._week_cached = week
        return self._week_incidents

    def _at_hour(self, h: int) -> list:
        """The acute incidents under way at hour h (onset <= h < end), by onset then id."""
        if not (self._catalog or self._file or self._side_effects):
            return []
        self._week_list(h // WEEK_HOURS)
        return self._week_hours.get(h, [])

    # --- remediations (REMEDIATION=on) -----------------------------------------------------

    def _span(self, incident: Incident) -> remediations.Span:
        return remediations.Span(
            incident.incident_id, incident.merchant_ids, incident.provider, incident.onset, incident.recovery_start,
            incident.end - incident.recovery_start, incident.kind.remediation,
            self._remediation and incident.requires_action)

    def _outcome(self, incident: Incident) -> remediations.Outcome:
        return self._outcomes.get(incident.incident_id) or remediations.planned(self._span(incident))

    def _shaped(self, incident: Incident) -> Incident:
        """The incident as remediations leave it: held until fixed or capped, or ended early by a fix."""
        outcome = self._outcome(incident)
        if (outcome.recovery_start, outcome.end) == (incident.recovery_start, incident.end):
            return incident
        return replace(incident, recovery_start=outcome.recovery_start, end=outcome.end)

    def spans(self, h0: int, h1: int) -> list:
        """What remediations need of the acute incidents that may overlap [h0, h1)."""
        return [self._span(incident) for incident in self.acute(h0, h1) if incident.side_effect_of is None]

    def _side_effect(self, r: remediations.Remediation):
        """The harm r does from the hour after it acted, on the merchant or provider it hit; None
        when its action has none or it hit nothing of the roster."""
        kind = SIDE_EFFECTS.get(r.action)
        if r.payment_provider is not None:
            positions = self._providers.get(r.payment_provider, [])
        else:
            positions = [self._by_id[r.merchant_id]] if r.merchant_id in self._by_id else []
        if kind is None or not positions:
            return None
        # Its own stream, keyed by the version the bench recorded: no other draw moves.
        rng = generator.seeded(self.seed, "side_effect", r.digest or r.id)
        ramp, plateau, recovery = (rng.randint(*kind.ramp_hours), rng.randint(*kind.plateau_hours),
                                   rng.randint(*kind.recovery_hours))
        incident = self._incident(kind, f"{kind.name}-{r.digest or r.id}", positions, r.payment_provider, rng,
                                  r.hour + 1, ramp, plateau, recovery, requires_action=False)
        return replace(incident, side_effect_of=r.id)

    def resolve(self, outcomes: dict, unmatched: list, harmful: list = ()) -> None:
        """Apply remediations.apply's result: from now on every lookup sees the fixed intervals,
        and the side effects of the harmful remediations (remediations.harmful)."""
        self._outcomes = outcomes
        self._unmatched = unmatched
        self._side_effects = [made for r in harmful if (made := self._side_effect(r))]
        self._week_cached = None

    def unmatched_records(self, h0: int, h1: int) -> list:
        """Answer-key records of the remediations in [h0, h1) that touched no active incident."""
        return [remediations.unmatched_record(r, self.scenario.name, self.seed_digest)
                for r in self._unmatched if h0 <= r.hour < h1]

    # --- lookups ---------------------------------------------------------------------------

    def chronic_labels(self, position: int) -> list:
        return [label for incident in self._chronic[position] for label in incident.labels]

    def chronic_ids(self, position: int) -> list:
        return [incident.incident_id for incident in self._chronic[position]]

    def at(self, h: int) -> dict:
        """{roster position: [(incident, share of its plateau effect)]} of the merchants in an acute incident at h."""
        active: dict = {}
        for incident in self._at_hour(h):
            share = incident.fraction(h)
            for position in incident.positions:
                active.setdefault(position, []).append((incident, share))
        return active

    def acute(self, h0: int, h1: int) -> list:
        """The acute incidents overlapping hours [h0, h1), by onset then id."""
        found = {}
        if self._catalog or self._file or self._side_effects:
            for week in range(h0 // WEEK_HOURS, (h1 - 1) // WEEK_HOURS + 1):
                for incident in self._week_list(week):
                    if incident.onset < h1 and incident.end > h0:
                        found[incident.incident_id] = incident
        return sorted(found.values(), key=_order)

    def chronic(self) -> list:
        return [incident for incidents in self._chronic for incident in incidents]

    def onsets(self, h0: int, h1: int) -> list:
        """The acute incidents with an onset in [h0, h1), by onset then id: what events.ChangeLog
        needs (remediations move no onset, so these are the planned ones)."""
        found = list(self._file)
        if self._catalog:
            for week in range(h0 // WEEK_HOURS, (h1 - 1) // WEEK_HOURS + 1):
                found += self._week(week)
        return sorted((incident for incident in found if h0 <= incident.onset < h1), key=_order)

    def starting(self, h: int, first: bool) -> list:
        """The incidents whose answer-key records a run writes at hour h: those beginning at h,
        and at a run's first hour also every chronic profile and every incident already under way
        (with REMEDIATION=on, also those that ended at h: this run is the first to see the
        remediations of their last hour)."""
        if not first:  # acute(h, h + 1) of onset h
            return [incident for incident in self._at_hour(h) if incident.onset == h]
        since = h - 1 if self._remediation else h
        return self.chronic() + self.acute(since, h + 1)

    def records(self, incidents: list) -> list:
        out = []
        for incident in incidents:
            record = incident.record(self.scenario.name, self.seed)
            if incident.side_effect_of is not None:
                record.update(resolved_by=None, resolved_at=None, remediation_id=incident.side_effect_of,
                              wrong_actions=[])
            elif self._remediation and incident.onset is not None:
                record.update(remediations.answer_fields(self._outcome(incident)))
            out.append(record)
        return out


def schedule(cfg, merchants: list | None = None) -> Schedule:
    """The schedule of a config (its scenario file loaded and checked, see scenario.load)."""
    merchants = generator.roster(cfg.seed, cfg.merchants) if merchants is None else merchants
    return Schedule(cfg.seed, scenario.load(cfg), merchants, cfg.remediation)


def _reach(spans, first: int, stop: int) -> int:
    """The first hour whose remediations can shape hours [first, stop): back to the onset of
    whatever incident may still run, and far enough for a side effect still running."""
    lo, _ = remediations.search_window(spans, first, stop)
    return min(lo, first - MAX_SIDE_EFFECT_HOURS)


def window(found: Schedule, hour_range) -> ledger.Window:
    """What a run over hour_range reads: the bench's records of the remediations that can shape
    its hours and the hour before them (whose remediations are new to it); the AI's documents
    claiming an hour since ledger.LATE_HOURS before."""
    first = generator.hour_index(hour_range.start) - 1
    stop = generator.hour_index(hour_range.end)
    lo = _reach(found.spans(first, stop), first, stop)
    return ledger.Window(generator.stamp(lo), generator.stamp(first - ledger.LATE_HOURS), generator.stamp(stop))


def remediate(found: Schedule, hour_range, seen: ledger.Seen) -> tuple[list, list]:
    """Applies to found the remediations of seen (read for window(found, hour_range)): those the
    bench recorded, and those seen now for the first time by a run over hour_range. Returns
    (the malformed ones, remediations.Skipped; the bench's new records of remediations)."""
    first = generator.hour_index(hour_range.start) - 1
    stop = generator.hour_index(hour_range.end)
    spans = found.spans(first, stop)
    lo = _reach(spans, first, stop)
    parsed, skipped, new = remediations.reconcile(seen.remediations, seen.records, ledger.first_seen(seen, first + 1),
                                                  lo, stop)
    outcomes, orphans = remediations.apply(spans, [r for r in parsed if not r.refused])
    refused = [r for r in parsed if r.refused]
    found.resolve(outcomes, sorted(orphans + refused, key=lambda r: (r.hour, r.time, r.id, r.digest)),
                  remediations.harmful(outcomes, orphans))
    return skipped, new


def answer_key(cfg, hour_range, read=None) -> tuple[list, list]:
    """(the answer-key records of every incident overlapping hour_range, the malformed
    remediations skipped on the way): chronic profiles first, then by onset and id (side
    effects among them), then the unmatched and refused remediations of the range. This is
    what a run over hour_range writes to the answer-key index (with REMEDIATION=on, a run also
    rewrites those of the hour before); read, with REMEDIATION=on, reads what the bench saw
    (read(ledger.Window) -> ledger.Seen) as run() does."""
    found = schedule(cfg)
    skipped = [] if read is None else remediate(found, hour_range, read(window(found, hour_range)))[0]
    h0, h1 = generator.hour_index(hour_range.start), generator.hour_index(hour_range.end)
    return found.records(found.chronic() + found.acute(h0, h1)) + found.unmatched_records(h0, h1), skipped
