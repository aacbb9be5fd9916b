"""Every time a person reads, in one place: on her clock, labelled with it.

Times are stored in UTC and the API speaks ISO 8601 UTC. Pages, printed forms, PDFs, e-mails
and exports draw them in the reader's zone (`followups.services.local_zone`: her own when she
set one on her account page, else her network's, else Asia/Hebron), through the Jinja filters
`local_time` and `local_date` and the same functions called from Python. A time of day carries
its zone's name, "2026-12-04 14:30 (Hebron time)", so that a page which shows times of two
networks, or a form printed in one zone and read in another, cannot be misread; a calendar day
carries none (the day is the reader's, as on the work calendar).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

# The zones the networks live in, named as their people name them; any other by its offset.
ZONE_NAMES = {
    "Asia/Hebron": _l("Hebron time"),
    "Asia/Gaza": _l("Gaza time"),
    "Asia/Jerusalem": _l("Jerusalem time"),
    "Asia/Amman": _l("Amman time"),
    "UTC": _l("UTC"),
    "Etc/UTC": _l("UTC"),
}


def reader_zone(actor: Any = None) -> ZoneInfo:
    """The zone of `actor`, or of the signed-in user in a request, else the default one. In a
    request it is worked out once for the signed-in user (a page draws many times)."""
    from .followups.services import local_zone

    if actor is not None:
        return local_zone(actor)
    from flask import g, has_request_context

    if not has_request_context():
        return local_zone(None)
    signed_in = g.get("_login_user")  # flask-login's user of this request, once loaded
    remembered = g.get("shabaka_reader_zone")
    if signed_in is not None and remembered is not None and remembered[0] is signed_in:
        return remembered[1]  # type: ignore[no-any-return]
    from flask_login import current_user

    if getattr(current_user, "is_authenticated", False):
        actor = current_user._get_current_object()
    found = local_zone(actor)
    g.shabaka_reader_zone = (g.get("_login_user"), found)
    return found


def zone_name(zone: ZoneInfo, at: datetime | None = None) -> str:
    """ "Hebron time", or "UTC+03:00" for a zone without a name of its own (offset at `at`)."""
    known = ZONE_NAMES.get(zone.key)
    if known is not None:
        return str(known)
    offset = (at or datetime.now(UTC)).astimezone(zone).strftime("%z")  # +0300
    return f"UTC{offset[:3]}:{offset[3:]}" if offset else zone.key


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)  # stored times are UTC


def local_time(
    value: datetime | None,
    actor: Any = None,
    *,
    zone: ZoneInfo | None = None,
    seconds: bool = False,
    label: bool = True,
) -> str:
    """`value` on the reader's clock, "2026-12-04 14:30 (Hebron time)"; "—" for no time."""
    if value is None:
        return "—"
    tz = zone or reader_zone(actor)
    moment = _aware(value).astimezone(tz)
    text = moment.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    return _("%(time)s (%(zone)s)", time=text, zone=zone_name(tz, moment)) if label else text


def local_date(value: datetime | date | None, actor: Any = None, *, zone: ZoneInfo | None = None) -> str:
    """The reader's calendar day of `value`, "2026-12-04"; a plain date as it is; "—" for none."""
    if value is None:
        return "—"
    if not isinstance(value, datetime):
        return value.isoformat()
    return _aware(value).astimezone(zone or reader_zone(actor)).date().isoformat()


def local_hour(value: datetime | None, actor: Any = None) -> str:
    """The reader's time of day of `value`, "14:30 (Hebron time)", for "until 14:30" sentences."""
    if value is None:
        return "—"
    tz = reader_zone(actor)
    moment = _aware(value).astimezone(tz)
    return _("%(time)s (%(zone)s)", time=moment.strftime("%H:%M"), zone=zone_name(tz, moment))


def install(app: Any) -> None:
    app.jinja_env.filters.update(local_time=local_time, local_date=local_date, local_hour=local_hour)
