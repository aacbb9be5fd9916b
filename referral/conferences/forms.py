"""Forms of case conferences. They parse and keep what was typed; the rules are in `services.py`.

Times are typed as local wall-clock times (the network's zone) and turned into UTC by the view.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, DateTimeLocalField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from ..followups.forms import FORMATS, PageForm, kind_choices
from ..forms_base import CheckedForm
from .models import GROUNDS, MINUTES_PER_CASE

GROUND_LABELS = {
    "high_risk": _l("High risk"),
    "repeat_incident": _l("A repeat incident within 12 months"),
    "judgement": _l("Professional judgement (give the reason)"),
}
STATE_LABELS = {
    "requested": _l("Asked of the coordinator"),
    "scheduled": _l("Scheduled"),
    "in_progress": _l("In progress"),
    "closed": _l("Held and closed"),
}
MESSAGES = {
    "unknown_case": _l("No open case of your organisation has this code."),
    "case_closed": _l("This case is closed."),
    "not_high_risk": _l("This case is not assessed as high risk: choose another ground."),
    "no_repeat_incident": _l("No repeat incident within the last 12 months is flagged on this case."),
    "already_on_agenda": _l("This case is already on the agenda."),
    "no_coordinator": _l("Your network has no coordinator to chair a conference."),
    "no_network": _l("Your organisation belongs to no network."),
    "in_past": _l("Choose a time from now onwards."),
    "too_far_ahead": _l("Choose a time within the next year."),
    "due_in_past": _l("Choose a time from today onwards."),
    "invalid_assignee": _l("Choose someone of an organisation taking part in this case."),
    "not_requested": _l("This conference has already been convened."),
    "not_convened": _l("This conference has not been convened yet."),
    "conference_closed": _l("This conference is closed: its record can no longer change."),
    "too_long_text": _l("This text is too long."),
    "required": _l("This field is required."),
    "invalid": _l("This value is not valid."),
}


def ground_choices() -> list[tuple[str, str]]:
    return [("", str(_l("Choose…")))] + [(g, str(GROUND_LABELS[g])) for g in GROUNDS]


def minute_choices() -> list[tuple[int, str]]:
    return [(m, str(_l("%(n)s minutes", n=m))) for m in MINUTES_PER_CASE]


class _AgendaFields:
    case_code = StringField(_l("Case code"), validators=[InputRequired(), Length(max=20)])
    grounds = SelectField(_l("Why this case"), validators=[InputRequired()])
    reason = TextAreaField(_l("Reason (professional judgement)"), validators=[Optional(), Length(max=5000)])
    minutes_allotted = SelectField(_l("Time for this case"), coerce=int, default=15)

    def _choices(self) -> None:
        self.grounds.choices = ground_choices()  # type: ignore[attr-defined]
        self.minutes_allotted.choices = minute_choices()  # type: ignore[attr-defined]


class ConveneForm(CheckedForm, _AgendaFields):
    """A new conference: its first case, when and where (or a request to the coordinator)."""

    starts_at = DateTimeLocalField(_l("Date and time (local time)"), format=FORMATS, validators=[Optional()])
    place = StringField(_l("Place or online link"), validators=[Optional(), Length(max=500)])
    ask_coordinator = BooleanField(_l("Ask the network coordinator to convene it (she sets the time and place)"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._choices()


class AgendaForm(PageForm, _AgendaFields):
    """Another case of the organisation on the agenda."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._choices()


class ScheduleForm(PageForm):
    """The coordinator convenes a requested conference."""

    starts_at = DateTimeLocalField(_l("Date and time (local time)"), format=FORMATS, validators=[InputRequired()])
    place = StringField(_l("Place or online link"), validators=[InputRequired(), Length(max=500)])


class SummaryForm(PageForm):
    risk_summary = TextAreaField(_l("Risk summary"), validators=[InputRequired(), Length(max=5000)])


class ActionForm(PageForm):
    """An agreed action: what, who, by when. It becomes a follow-up."""

    description = TextAreaField(_l("Action agreed"), validators=[InputRequired(), Length(max=5000)])
    assignee_id = SelectField(_l("Owner"), validate_choice=False, validators=[InputRequired()])
    kind = SelectField(_l("Kind of follow-up"), validators=[InputRequired()])
    due_at = DateTimeLocalField(_l("Due (local time)"), format=FORMATS, validators=[InputRequired()])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kind.choices = kind_choices(_l("Choose…"))


class MinutesForm(PageForm):
    minutes = TextAreaField(_l("Minutes"), validators=[InputRequired(), Length(max=20000)])


class RepeatIncidentForm(PageForm):
    flagged = SelectField(_l("Repeat incident"), choices=[("1", "1"), ("0", "0")])
