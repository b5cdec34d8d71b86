"""The scenario model: steady, incidents, hard, or a JSON scenario file, read and checked here.

A scenario file places incidents of the catalog on merchants or providers over a base
scenario. Every mistake is a ConfigError naming the field path (incidents[1].start),
raised before anything is generated.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass

import generator
from catalog import CATALOG, PLACEABLE_KINDS
from config import (GENERATOR_SEED, SCENARIO, SCENARIO_NAMES, SCENARIOS, Config, ConfigError, EventError,
                    floor_hour, merchant_number, not_a_merchant, parse_time, shown)

# Scenario files named by file name alone are looked up here (shipped in the zip).
SCENARIO_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scenarios")
SCENARIO_KEYS = ("base", "description", "incidents")
SCENARIO_INCIDENT_KEYS = ("kind", "merchants", "payment_provider", "start", "hours", "ramp_hours", "recovery_hours",
                          "requires_action")
MAX_SCENARIO_HOURS = 24 * 366  # a plateau of a year at most
# The noise model of each base: hard is volume-true; the others keep their golden documents.
NOISE = {"steady": "uniform", "incidents": "uniform", "hard": "volume"}


@dataclass(frozen=True)
class ScenarioIncident:
    """One incident of a scenario file, checked; start is the onset, in hours since the epoch."""

    kind: str
    start: int
    hours: int
    merchants: tuple = ()  # merchant numbers k
    payment_provider: str | None = None
    ramp_hours: int | None = None  # None: the kind's default
    recovery_hours: int | None = None
    requires_action: bool | None = None  # None: whether the kind has an accepted remediation


@dataclass(frozen=True)
class Scenario:
    name: str  # as SCENARIO gives it: steady, incidents, hard or the file's name or path
    base: str  # steady, incidents or hard
    incidents: tuple = ()
    noise: str = "uniform"  # generator.NOISE_MODELS: how HourlyLines draws the hour's counts


def load(cfg: Config) -> Scenario:
    """cfg's scenario, its file read and checked against cfg's roster: a ConfigError naming the
    field path (incidents[1].start) for any mistake, before anything is generated."""
    if cfg.scenario in SCENARIOS:
        return Scenario(cfg.scenario, cfg.scenario, noise=NOISE[cfg.scenario])
    path = cfg.scenario
    if not os.path.isfile(path) and os.path.basename(path) == path:
        path = os.path.join(SCENARIO_DIR, path)
    try:
        mtime = os.stat(path).st_mtime_ns
    except OSError:
        shipped = ", ".join(sorted(os.listdir(SCENARIO_DIR))) if os.path.isdir(SCENARIO_DIR) else "none"
        raise ConfigError(
            f"{SCENARIO}: no scenario file {shown(cfg.scenario)} (nor in the shipped scenarios: {shipped})"
        ) from None
    return _scenario_file(path, mtime, cfg.scenario, cfg.merchants, cfg.seed)


@functools.lru_cache(maxsize=8)
def _scenario_file(path: str, mtime: int, name: str, merchants: int, seed: int) -> Scenario:
    # mtime in the key: an edited file is read again. Its name, as given (a key may have been
    # pasted into it), and the file's values go through shown().
    def fail(where: str, problem: str):
        raise ConfigError(f"scenario file {shown(name)}: {where} {problem}")

    try:
        with open(path, encoding="utf-8") as stream:
            data = json.load(stream)
    except OSError as exc:  # its str() would quote the path
        raise ConfigError(f"scenario file {shown(name)} cannot be read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"scenario file {shown(name)} cannot be read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"scenario file {shown(name)} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        fail("the file", "must hold a JSON object")
    for key in data:
        if key not in SCENARIO_KEYS:
            fail(key, f"is not a scenario key (allowed: {', '.join(SCENARIO_KEYS)})")
    base = data.get("base", "steady")
    if base not in SCENARIOS:
        fail("base", f"must be {SCENARIO_NAMES}, got {shown(base)}")
    if not isinstance(data.get("description", ""), str):
        fail("description", "must be a string")
    specs = data.get("incidents", [])
    if not isinstance(specs, list):
        fail("incidents", "must be a list")
    incidents = []
    for i, spec in enumerate(specs):
        incident = _scenario_incident(spec, f"incidents[{i}]", merchants, seed, fail)
        for j, earlier in enumerate(incidents):
            if (earlier.kind, earlier.merchants, earlier.payment_provider, earlier.start) == (
                    incident.kind, incident.merchants, incident.payment_provider, incident.start):
                fail(f"incidents[{i}]", f"repeats incidents[{j}] (same kind, scope and start)")
        incidents.append(incident)
    return Scenario(name, base, tuple(incidents), NOISE[base])


def _scenario_incident(spec, where: str, merchants: int, seed: int, fail) -> ScenarioIncident:
    if not isinstance(spec, dict):
        fail(where, "must be a JSON object")
    for key in spec:
        if key not in SCENARIO_INCIDENT_KEYS:
            fail(f"{where}.{key}", f"is not an incident key (allowed: {', '.join(SCENARIO_INCIDENT_KEYS)})")
    kind = spec.get("kind")
    if kind not in PLACEABLE_KINDS:
        fail(f"{where}.kind", f"must be one of {', '.join(PLACEABLE_KINDS)}, got {shown(kind)}")
    catalog = CATALOG[kind]

    provider, numbers = spec.get("payment_provider"), ()
    if catalog.scope == "provider":
        if "merchants" in spec:
            fail(f"{where}.merchants", f"does not fit {kind}, which hits every merchant of a payment_provider")
        if provider not in generator.PAYMENT_PROVIDERS:
            fail(f"{where}.payment_provider",
                 f"must be one of {', '.join(generator.PAYMENT_PROVIDERS)}, got {shown(provider)}")
    else:
        if "payment_provider" in spec:
            fail(f"{where}.payment_provider", f"does not fit {kind}, which hits the merchants it names")
        ids = spec.get("merchants")
        if not isinstance(ids, list) or not ids:
            fail(f"{where}.merchants", f"must be a non-empty list of merchant ids, got {shown(ids)}")
        found = []
        for j, merchant_id in enumerate(ids):
            k = merchant_number(merchant_id, merchants)
            if k is None:
                fail(f"{where}.merchants[{j}]", not_a_merchant(merchant_id, merchants))
            if k in found:
                fail(f"{where}.merchants[{j}]", f"repeats {merchant_id}")
            # Relative (hard) kinds show on any merchant, but a location can only be lost where there is one.
            visible = catalog.labels if catalog.tier == "incidents" else ("missing_location",) * catalog.drops_location
            if catalog.is_issue and generator.already_shows(seed, k, visible):
                fail(f"{where}.merchants[{j}]", f"{merchant_id}'s chronic profile already shows "
                     f"{', '.join(catalog.labels)} (with this {GENERATOR_SEED}): {kind} would change nothing visible")
            found.append(k)
        numbers = tuple(found)

    start = spec.get("start")
    try:
        moment = parse_time(start, "start")
    except EventError:
        moment = None
    if moment is None or floor_hour(moment) != moment:
        fail(f"{where}.start", f"must be an ISO 8601 hour from 1970 on, such as 2026-12-01T10:00:00Z, got {shown(start)}")

    def hours(key: str, lo: int, hi: int, required: bool = False):
        if key not in spec and not required:
            return None
        value = spec.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            fail(f"{where}.{key}", f"must be a whole number of hours from {lo} to {hi}, got {shown(value)}")
        return value

    requires_action = spec.get("requires_action")
    if requires_action is not None and not isinstance(requires_action, bool):
        fail(f"{where}.requires_action", f"must be true or false, got {shown(requires_action)}")
    if requires_action and not catalog.remediation:
        fail(f"{where}.requires_action", f"cannot be true: no remediation is accepted for {kind}")

    return ScenarioIncident(
        kind, generator.hour_index(moment),
        # Every plateau lasts 2 hours or more, every ramp 1-3 hours, every recovery 1-6.
        hours("hours", 2, MAX_SCENARIO_HOURS, required=True), numbers, provider,
        hours("ramp_hours", 1, 3), hours("recovery_hours", 1, 6), requires_action,
    )

