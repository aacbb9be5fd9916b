"""A meeting as an iCalendar file (RFC 5545, written with `icalendar`): what an invitee's
calendar needs and nothing about any case (a meeting's records hold none)."""

from __future__ import annotations

from datetime import timedelta

from icalendar import Calendar, Event

from ..directory.models import Network
from ..models_base import utcnow
from .models import Meeting


def meeting_ics(meeting: Meeting, network: Network, agenda_titles: list[str]) -> bytes:
    cal = Calendar()
    cal.add("prodid", "-//Shabaka//Network coordination//AR")
    cal.add("version", "2.0")
    cal.add("method", "PUBLISH")
    event = Event()
    event.add("uid", f"meeting-{meeting.id}@shabaka")
    event.add("dtstamp", utcnow())
    event.add("sequence", meeting.sequence)
    event.add("dtstart", meeting.starts_at)
    event.add("dtend", meeting.starts_at + timedelta(minutes=meeting.duration_minutes))
    event.add("summary", f"{meeting.title} — {network.name_ar} / {network.name_en}")
    if meeting.place:
        event.add("location", meeting.place)
    if meeting.online_link:
        event.add("url", meeting.online_link)
    event.add("description", "\n".join(f"{n}. {title}" for n, title in enumerate(agenda_titles, start=1)))
    event.add("status", "CANCELLED" if meeting.state == "cancelled" else "CONFIRMED")
    cal.add_component(event)
    return cal.to_ical()
