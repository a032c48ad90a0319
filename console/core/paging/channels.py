"""The profile's paging channels, built: Alertmanager where [paging] names one, and each
of [[paging.channels]], their secrets resolved (and so registered with the redactor that
filters every line fleetdeck writes). A secret that cannot be resolved is a SecretError
naming the channel."""

from __future__ import annotations

from console.core.paging.alertmanager import Alertmanager
from console.core.paging.pagerduty import PagerDuty
from console.core.paging.telegram import Telegram
from console.core.paging.webhooks import Discord, Slack, Webhook
from console.core.profile.schema import FleetProfile
from console.core.secrets import SecretError, resolve


def alertmanager_for(fleet: FleetProfile, host: str) -> Alertmanager | None:
    """The profile's Alertmanager, its token alone resolved (a mute needs no other secret)."""
    paging = fleet.paging
    if not paging.alertmanager:
        return None
    token = None
    if paging.alertmanager_token:
        try:
            token = resolve(paging.alertmanager_token)
        except SecretError as exc:
            raise SecretError(f"paging alertmanager_token: {exc}") from None
    return Alertmanager(paging.alertmanager, token, paging.resend_s, host)


def channels_for(fleet: FleetProfile, host: str) -> list:
    paging = fleet.paging
    out: list = []

    def secret(ref: str, where: str) -> str:
        try:
            return resolve(ref)
        except SecretError as exc:
            raise SecretError(f"paging {where}: {exc}") from None

    am = alertmanager_for(fleet, host)
    if am is not None:
        out.append(am)
    for c in paging.channels:
        where = f"channel {c.name!r}"
        if c.kind == "slack":
            out.append(Slack(c.name, secret(c.url, where)))
        elif c.kind == "discord":
            out.append(Discord(c.name, secret(c.url, where)))
        elif c.kind == "webhook":
            out.append(Webhook(c.name, secret(c.url, where)))
        elif c.kind == "telegram":
            out.append(Telegram(c.name, secret(c.token, where), c.chat_id, c.api_url))
        elif c.kind == "pagerduty":
            out.append(PagerDuty(c.name, secret(c.routing_key, where), c.url))
    return out
