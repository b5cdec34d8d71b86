"""The incident catalog: every kind is one declarative entry (kinds are data, not branches).

Each Kind says what it hits (scope), what its documents show (labels), its effects on
every observed field at the plateau, its root cause, the actions that fix it, how
long its phases last, and the change event that may precede it (its Cause).
incidents.py schedules them; generator.py applies their effects; events.py writes
their causes.

Each kind's accepted action also has a side effect: a Kind of scope "side_effect", the
harm that action does for a few hours on a merchant or provider that did not need it
(REMEDIATION=on: a wrong or unmatched remediation). Side effects are not incidents to
detect: findings during one are neither rewarded nor punished.
"""

from __future__ import annotations

from dataclasses import dataclass

from generator import HIGH_ERROR_RATE, LOW_CONVERSION, MISSING_LOCATION, TRAFFIC_DROP

# Where an incident's effect on the channels lands: "both" in proportion, or "one",
# web or app, drawn per incident, or always "web" or always "app" (the other channel keeps
# its usual values).
CHANNEL_EFFECTS = ("both", "one", "web", "app")


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
    side_effect: Kind | None = None  # what its accepted action does where it is not needed
    # Effects relative to the merchant's usual values for the hour (the hard tier): a factor
    # on the usual conversion (of the channel hit, else of both), a multiple of max(usual, 4
    # points) added to the usual error rate, transactions kept at their usual count while
    # sessions move (bots), and an on/off cycle (hours on, hours off) for intermittent kinds.
    # sessions, with a channel, is a factor on that channel's usual sessions.
    conversion_factor: tuple | None = None
    error_boost: tuple | None = None
    keeps_transactions: bool = False
    cycle_on: tuple | None = None
    cycle_off: tuple | None = None
    tier: str = "incidents"  # the catalog it belongs to: "incidents" or "hard" (docs/scenarios.md)


def _side_effect(action: str, component: str, description: str, **effects) -> Kind:
    """The harm of action on a merchant or provider that did not need it: one ramp hour, then
    a short plateau and recovery, drawn like an incident's."""
    return Kind(f"{action}_side_effect", "side_effect", False, (), "remediation_side_effect", component,
                description, **{"ramp_hours": (1, 1), "recovery_hours": (1, 2), **effects})


KINDS = (
    Kind("payment_outage", "provider", True, (HIGH_ERROR_RATE,), "dependency", "payment_provider:{provider}",
         "Payment provider {provider} is failing: card payments of every merchant on it error out.",
         ("failover_payment_provider",), errors=(15, 40), plateau_hours=(2, 8),
         error_codes=("provider_unavailable",), latency_factor=(2.5, 5.0),
         # Status pages lag: the provider owns up 1-3 hours after the onset.
         cause=Cause("provider_status", "payment_provider:{provider}", 0.8, (-180, -60)),
         side_effect=_side_effect("failover_payment_provider", "backup_payment_provider",
                                  "A failover that {scope} did not need moved its payments to a backup provider: "
                                  "more of them fail, and more slowly, for a few hours.", errors=(10, 22),
                                  error_codes=("declined", "timeout"), latency_factor=(1.4, 2.0),
                                  plateau_hours=(2, 4))),
    Kind("gateway_timeouts", "merchant", True, (HIGH_ERROR_RATE, LOW_CONVERSION), "configuration",
         "payment_gateway", "The payment gateway timeout of {scope} is too low: slow authorisations fail "
         "and buyers give up.", ("raise_gateway_timeout",), conversion=(5, 30), errors=(15, 40),
         error_codes=("timeout",), latency_ms=(1200, 2500),
         cause=Cause("config_change", "payment_gateway", 0.7, (5, 120)),
         side_effect=_side_effect("raise_gateway_timeout", "payment_gateway",
                                  "A gateway timeout raised on {scope} without need holds buyers on slow "
                                  "authorisations: fewer of them convert for a few hours.",
                                  conversion=(20, 34), latency_factor=(1.3, 1.8), plateau_hours=(2, 6))),
    Kind("checkout_regression", "merchant", True, (LOW_CONVERSION,), "code_defect", "checkout_release",
         "A checkout release of {scope} broke a step of the checkout: fewer sessions convert.",
         ("rollback_release",), conversion=(5, 30), plateau_hours=(8, 60), channel="one",
         cause=Cause("deploy", "checkout", 0.7, (5, 120)),
         side_effect=_side_effect("rollback_release", "checkout_release",
                                  "A rollback of a healthy release of {scope} brought back an older checkout: "
                                  "fewer sessions convert for a few hours.", conversion=(12, 28),
                                  plateau_hours=(3, 8))),
    Kind("location_feed_loss", "merchant", True, (MISSING_LOCATION,), "data_pipeline", "location_feed",
         "The location feed of {scope} stopped: its data arrive without location, city and country.",
         ("restore_location_feed",), drops_location=True, plateau_hours=(8, 60),
         side_effect=_side_effect("restore_location_feed", "location_feed",
                                  "A restart of the healthy location feed of {scope} lost its location data "
                                  "for an hour or two.", drops_location=True, plateau_hours=(1, 2))),
    Kind("traffic_drop", "merchant", True, (TRAFFIC_DROP,), "configuration", "storefront_dns",
         "A DNS record of the storefront of {scope} is wrong: most visitors never reach the shop.",
         ("fix_dns_record",), sessions=(0.12, 0.45),
         cause=Cause("config_change", "storefront_dns", 0.5, (5, 120)),
         side_effect=_side_effect("fix_dns_record", "storefront_dns",
                                  "A change to the correct DNS record of {scope} sent part of its visitors "
                                  "nowhere until it propagated back.", sessions=(0.4, 0.7), plateau_hours=(1, 3))),
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
# The incidents tier's side effect of each of its actions: a hard kind accepting the same action shares it.
_SIDE_EFFECTS = {action: kind.side_effect for kind in KINDS for action in kind.remediation}

# SCENARIO=hard's own catalog (docs/scenarios.md#the-hard-tier): effects relative to the merchant,
# several causes per label, told apart by codes, latency, channels and events.
_SHARP = {"ramp_hours": (1, 1), "plateau_hours": (8, 14), "recovery_hours": (1, 2)}
_SLOW = {"ramp_hours": (12, 30), "plateau_hours": (2, 6), "recovery_hours": (1, 3)}
_STEP = {"ramp_hours": (1, 2), "plateau_hours": (8, 14), "recovery_hours": (1, 2)}
_ERRORS = (1.5, 3.0)  # error_boost of the error kinds
HARD_KINDS = (
    Kind("provider_outage", "provider", True, (HIGH_ERROR_RATE,), "dependency", "payment_provider:{provider}",
         "Payment provider {provider} fails on and off: card payments of every merchant on it error out.",
         ("failover_payment_provider",), side_effect=_SIDE_EFFECTS["failover_payment_provider"], error_boost=_ERRORS, error_codes=("provider_unavailable",),
         latency_factor=(2.0, 4.0), cycle_on=(1, 3), cycle_off=(1, 3),
         cause=Cause("provider_status", "payment_provider:{provider}", 0.8, (-180, -60)), tier="hard", **_SHARP),
    Kind("timeout_misconfiguration", "merchant", True, (HIGH_ERROR_RATE,), "configuration", "payment_gateway",
         "The payment gateway timeout of {scope} is too low for its growing load: more and more "
         "authorisations time out.", ("raise_gateway_timeout",), side_effect=_SIDE_EFFECTS["raise_gateway_timeout"], error_boost=_ERRORS, error_codes=("timeout",),
         latency_factor=(2.5, 4.0), cause=Cause("config_change", "payment_gateway", 0.5, (5, 240)), tier="hard",
         **_SLOW),
    Kind("fraud_rules_too_strict", "merchant", True, (HIGH_ERROR_RATE,), "risk_policy", "fraud_rules",
         "A fraud-rule change of {scope} blocks good buyers.", ("relax_fraud_rules",), error_boost=_ERRORS,
         side_effect=_side_effect("relax_fraud_rules", "fraud_rules", "Fraud rules of {scope} relaxed without need let "
                                  "fraud through: issuers decline more of its payments for a few hours.",
                                  error_boost=(0.6, 1.0), error_codes=("declined",), plateau_hours=(2, 4)),
         error_codes=("fraud_blocked",), cause=Cause("config_change", "fraud_rules", 0.7, (5, 180)), tier="hard",
         **_SHARP),
    Kind("expired_credentials", "merchant", True, (HIGH_ERROR_RATE,), "credentials", "api_credentials",
         "The payment API credentials of {scope} expired: authorisations are refused.", ("rotate_api_credentials",),
         side_effect=_side_effect("rotate_api_credentials", "api_credentials", "Credentials of {scope} rotated without "
                                  "need: payments fail authentication until every node has the new ones.",
                                  error_boost=(0.6, 1.0), error_codes=("authentication_failed",), plateau_hours=(1, 2)),
         error_boost=_ERRORS, error_codes=("authentication_failed",), tier="hard", **_SHARP),
    Kind("channel_checkout_regression", "merchant", True, (LOW_CONVERSION,), "code_defect", "checkout_release",
         "A checkout release of {scope} broke a step of one channel's checkout.", ("rollback_release",),
         side_effect=_SIDE_EFFECTS["rollback_release"],
         conversion_factor=(0.2, 0.5), channel="one", cause=Cause("deploy", "checkout", 0.8, (5, 120)),
         tier="hard", **_STEP),
    Kind("three_ds_failure", "merchant", True, (LOW_CONVERSION,), "dependency", "three_d_secure",
         "The 3-D Secure step of {scope} degrades: challenges hang and buyers give up.", ("switch_3ds_provider",),
         side_effect=_side_effect("switch_3ds_provider", "three_d_secure", "A 3-D Secure provider switch {scope} did "
                                  "not need: challenges are slower for a few hours.", conversion_factor=(0.7, 0.85),
                                  latency_factor=(1.2, 1.5), plateau_hours=(2, 4)),
         conversion_factor=(0.4, 0.6), latency_factor=(1.6, 2.5), tier="hard", **_SLOW),
    Kind("pricing_error", "merchant", True, (LOW_CONVERSION,), "configuration", "pricing",
         "A pricing change of {scope} put wrong prices in the shop: buyers leave.", ("revert_price_change",),
         side_effect=_side_effect("revert_price_change", "pricing", "A revert of the correct prices of {scope}: buyers "
                                  "see stale prices for a few hours.", conversion_factor=(0.7, 0.85), plateau_hours=(2, 4)),
         conversion_factor=(0.45, 0.6), cause=Cause("config_change", "pricing", 0.7, (5, 120)), tier="hard",
         **_SHARP),
    Kind("dns_misconfiguration", "merchant", True, (TRAFFIC_DROP,), "configuration", "storefront_dns",
         "A DNS record of the web storefront of {scope} flaps: web visitors often never reach it.",
         ("fix_dns_record",), side_effect=_SIDE_EFFECTS["fix_dns_record"], sessions=(0.05, 0.3), channel="web", cycle_on=(2, 4), cycle_off=(1, 2),
         cause=Cause("config_change", "storefront_dns", 0.7, (5, 120)), tier="hard", **_SHARP),
    Kind("app_crash_release", "merchant", True, (TRAFFIC_DROP,), "code_defect", "app_release",
         "An app release of {scope} crashes on start.", ("rollback_app_release",), sessions=(0.02, 0.2),
         side_effect=_side_effect("rollback_app_release", "app_release", "A rollback of a healthy app release of "
                                  "{scope}: app users must update again.", sessions=(0.5, 0.8), channel="app",
                                  plateau_hours=(1, 3)),
         channel="app", cause=Cause("deploy", "mobile_app", 0.9, (5, 120)), tier="hard", **_STEP),
    Kind("cdn_outage", "merchant", True, (TRAFFIC_DROP,), "dependency", "cdn",
         "The CDN in front of {scope} fails: few visitors reach the shop or the app.", ("failover_cdn",),
         side_effect=_side_effect("failover_cdn", "cdn", "A CDN failover {scope} did not need: cold caches slow the "
                                  "shop for a few hours.", sessions=(0.6, 0.85), plateau_hours=(1, 3)),
         sessions=(0.25, 0.45), cause=Cause("provider_status", "cdn", 0.7, (-180, -60)), tier="hard", **_STEP),
    Kind("location_feed_outage", "merchant", True, (MISSING_LOCATION,), "data_pipeline", "location_feed",
         "The location feed of {scope} stopped: its data arrive without location, city and country.",
         ("restore_location_feed",), side_effect=_SIDE_EFFECTS["restore_location_feed"], drops_location=True,
         tier="hard", **_SHARP),
    Kind("merchant_record_edit", "merchant", True, (MISSING_LOCATION,), "configuration", "merchant_record",
         "An edit of the merchant record of {scope} removed its address.", ("restore_merchant_record",),
         side_effect=_side_effect("restore_merchant_record", "merchant_record", "A restore of the correct merchant "
                                  "record of {scope} lost its address for an hour or two.", drops_location=True,
                                  plateau_hours=(1, 2)),
         drops_location=True, cause=Cause("config_change", "merchant_record", 1.0, (5, 55)), tier="hard",
         **_SHARP),
    Kind("geocoder_outage", "merchant", True, (MISSING_LOCATION,), "dependency", "geocoder",
         "The geocoding service of {scope} fails: its address no longer resolves to a location.",
         ("failover_geocoder",), side_effect=_side_effect(
             "failover_geocoder", "geocoder", "A geocoder failover {scope} did not need lost its location for an hour "
             "or two.", drops_location=True, plateau_hours=(1, 2)), drops_location=True, cause=Cause("provider_status", "geocoder", 1.0, (-180, -60)),
         tier="hard", **_SHARP),
    Kind("bot_traffic", "merchant", False, (), "traffic", "bot_crawler",
         "Crawlers visit the web shop of {scope}: web sessions jump, purchases as usual.", sessions=(2.0, 5.0),
         channel="web", keeps_transactions=True, ramp_hours=(1, 3), plateau_hours=(6, 18), recovery_hours=(1, 3),
         tier="hard"),
    Kind("provider_maintenance", "provider", False, (), "operations", "planned_maintenance:{provider}",
         "Payment provider {provider} has announced maintenance: payments fail for an hour or two.",
         errors=(15, 40), error_codes=("provider_unavailable",), ramp_hours=(1, 1), plateau_hours=(2, 3),
         recovery_hours=(1, 1), cause=Cause("maintenance_notice", "payment_provider:{provider}", 1.0,
                                            (24 * 60, 72 * 60)), tier="hard"),
    Kind("campaign", "merchant", False, (), "marketing", "campaign",
         "{scope} runs a campaign: two to three times the usual traffic for days, rates as usual.",
         sessions=(1.8, 3.0), ramp_hours=(2, 6), plateau_hours=(96, 120), recovery_hours=(2, 4),
         cause=Cause("campaign", "marketing", 1.0, (0, 60)), tier="hard"),
)
CATALOG = {kind.name: kind for kind in KINDS + HARD_KINDS}
ACUTE_KINDS = tuple(kind.name for kind in KINDS if kind.scope != "chronic")  # the incidents tier's
# What a scenario file may place, over any base.
PLACEABLE_KINDS = ACUTE_KINDS + tuple(kind.name for kind in HARD_KINDS)
MAX_SESSION_FACTOR = max(kind.sessions[1] for kind in KINDS + HARD_KINDS if kind.sessions)
# The side effect of each accepted action, by action name.
SIDE_EFFECTS = {action: kind.side_effect for kind in KINDS + HARD_KINDS for action in kind.remediation}
SIDE_EFFECT_KINDS = frozenset(side.name for side in SIDE_EFFECTS.values())
# The longest a side effect lasts, from the hour after its action: how far back a run reads actions.
MAX_SIDE_EFFECT_HOURS = max(side.ramp_hours[1] + side.plateau_hours[1] + side.recovery_hours[1] + 1
                            for side in SIDE_EFFECTS.values())
