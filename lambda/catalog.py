"""The incident catalog: every kind is one declarative entry (kinds are data, not branches).

Each Kind says what it hits (scope), what its documents show (labels), its effects on
every observed field at the plateau, its root cause, the actions that fix it, how
long its phases last, and the change event that may precede it (its Cause).
incidents.py schedules them; generator.py applies their effects; events.py writes
their causes.
"""

from __future__ import annotations

from dataclasses import dataclass

from generator import HIGH_ERROR_RATE, LOW_CONVERSION, MISSING_LOCATION, TRAFFIC_DROP

# Where an incident's effect on the channels lands: "both" in proportion, or "one",
# web or app, drawn per incident (the other channel keeps its usual values).
CHANNEL_EFFECTS = ("both", "one")


@dataclass(frozen=True)
class Cause:
    """The change event (events.py) that precedes an incident of a kind, with this probability.

    lead_minutes: (lo, hi) minutes from the event to the onset, inclusive; negative
    values follow the onset (a status page that lags an outage).
    """

    type: str  # events.EVENT_TYPES
    component: str  # {provider}: the payment provider's name
    probability: float
    lead_minutes: tuple


@dataclass(frozen=True)
class Kind:
    name: str
    scope: str  # "merchant", "provider" or "chronic" (the seed's profiles, always on)
    is_issue: bool  # False: a benign look-alike that should not be flagged
    labels: tuple  # the labels its documents show at the plateau
    category: str  # root cause
    component: str  # {provider}: the payment provider's name
    description: str  # {scope}: the merchant(s) or provider
    remediation: tuple = ()  # accepted actions
    # Effects at the plateau: conversion and error ranges (percent), a factor on
    # the merchant's usual sessions for that hour, no location.
    conversion: tuple | None = None
    errors: tuple | None = None
    sessions: tuple | None = None
    drops_location: bool = False
    # Hours drawn for catalog incidents (inclusive); scenario files default to the first value.
    ramp_hours: tuple = (1, 3)
    plateau_hours: tuple = (4, 36)
    recovery_hours: tuple = (1, 6)
    night: bool = False  # the plateau falls in quiet local night hours
    # Effects on the evidence at the plateau: the codes (generator.ERROR_CODES) its extra
    # failures carry (needed with errors), a factor on the merchant's usual p95 latency,
    # or a level in ms it moves toward (the gateway's timeout), where the effect lands
    # (CHANNEL_EFFECTS), and the change event that may precede it.
    error_codes: tuple = ()
    latency_factor: tuple | None = None
    latency_ms: tuple | None = None
    channel: str = "both"
    cause: Cause | None = None


KINDS = (
    Kind("payment_outage", "provider", True, (HIGH_ERROR_RATE,), "dependency", "payment_provider:{provider}",
         "Payment provider {provider} is failing: card payments of every merchant on it error out.",
         ("failover_payment_provider",), errors=(15, 40), plateau_hours=(2, 8),
         error_codes=("provider_unavailable",), latency_factor=(2.5, 5.0),
         # Status pages lag: the provider owns up 1-3 hours after the onset.
         cause=Cause("provider_status", "payment_provider:{provider}", 0.8, (-180, -60))),
    Kind("gateway_timeouts", "merchant", True, (HIGH_ERROR_RATE, LOW_CONVERSION), "configuration",
         "payment_gateway", "The payment gateway timeout of {scope} is too low: slow authorisations fail "
         "and buyers give up.", ("raise_gateway_timeout",), conversion=(5, 30), errors=(15, 40),
         error_codes=("timeout",), latency_ms=(1200, 2500),
         cause=Cause("config_change", "payment_gateway", 0.7, (5, 120))),
    Kind("checkout_regression", "merchant", True, (LOW_CONVERSION,), "code_defect", "checkout_release",
         "A checkout release of {scope} broke a step of the checkout: fewer sessions convert.",
         ("rollback_release",), conversion=(5, 30), plateau_hours=(8, 60), channel="one",
         cause=Cause("deploy", "checkout", 0.7, (5, 120))),
    Kind("location_feed_loss", "merchant", True, (MISSING_LOCATION,), "data_pipeline", "location_feed",
         "The location feed of {scope} stopped: its data arrive without location, city and country.",
         ("restore_location_feed",), drops_location=True, plateau_hours=(8, 60)),
    Kind("traffic_drop", "merchant", True, (TRAFFIC_DROP,), "configuration", "storefront_dns",
         "A DNS record of the storefront of {scope} is wrong: most visitors never reach the shop.",
         ("fix_dns_record",), sessions=(0.12, 0.45),
         cause=Cause("config_change", "storefront_dns", 0.5, (5, 120))),
    Kind("promo_surge", "merchant", False, (), "marketing", "promotion",
         "{scope} runs a promotion: two to four times the usual traffic, rates as usual.",
         sessions=(2.2, 3.8), plateau_hours=(6, 48),
         cause=Cause("campaign", "marketing", 0.9, (0, 120))),
    # 2-3 quiet hours: the catalog's 1-3 narrowed by the rule that every plateau lasts 2 hours or more.
    Kind("maintenance_window", "merchant", False, (), "operations", "planned_maintenance",
         "{scope} has planned maintenance in quiet night hours: fewer sessions, rates as usual.",
         sessions=(0.25, 0.55), ramp_hours=(1, 1), plateau_hours=(2, 3), recovery_hours=(1, 1), night=True,
         cause=Cause("maintenance_notice", "planned_maintenance", 0.9, (24 * 60, 72 * 60))),
    # The seed's chronic profiles: no onset, no end.
    Kind(LOW_CONVERSION, "chronic", True, (LOW_CONVERSION,), "merchant_profile", "checkout_funnel",
         "{scope} converts poorly all the time: a chronic profile, not an incident."),
    Kind(HIGH_ERROR_RATE, "chronic", True, (HIGH_ERROR_RATE,), "merchant_profile", "payment_integration",
         "Payments of {scope} fail often all the time: a chronic profile, not an incident."),
    Kind(MISSING_LOCATION, "chronic", True, (MISSING_LOCATION,), "merchant_profile", "merchant_address",
         "{scope} has no location on record: a chronic profile, not an incident."),
)
CATALOG = {kind.name: kind for kind in KINDS}
ACUTE_KINDS = tuple(kind.name for kind in KINDS if kind.scope != "chronic")
MAX_SESSION_FACTOR = max(kind.sessions[1] for kind in KINDS if kind.sessions)
