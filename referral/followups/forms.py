"""Forms of follow-up tasks. They parse and keep what was typed; the rules are in `services.py`.

Times are typed as local wall-clock times (the network's zone) and turned into UTC by the view.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import DateTimeLocalField, HiddenField, SelectField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from ..forms_base import CheckedForm
from .models import KINDS

KIND_LABELS = {
    "call": _l("Call"),
    "visit": _l("Visit"),
    "service_check": _l("Service check"),
    "safety_plan_review": _l("Safety-plan review"),
    "document": _l("Document"),
    "other": _l("Other"),
}
STATE_LABELS = {"open": _l("Open"), "done": _l("Done"), "cancelled": _l("Cancelled")}
MESSAGES = {
    "invalid_assignee": _l("Choose someone who may see this case: its team or a supervisor of its organisation."),
    "due_in_past": _l("Choose a time from today onwards."),
    "too_far_ahead": _l("Choose a time within the next two years."),
    "followup_not_open": _l("This follow-up is already done or cancelled."),
    "only_assignee_or_team": _l("Only the person it is assigned to or the case team can mark it done."),
    "changed_meanwhile": _l("Someone changed this follow-up meanwhile. Reload the page and try again."),
    "case_closed": _l("This case is closed: no new follow-up can be added."),
    "too_long_text": _l("This text is too long."),
    "nothing_to_change": _l("Nothing to change."),
}
FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]


def kind_choices(blank: Any = None) -> list[tuple[str, str]]:
    options = [(code, str(KIND_LABELS[code])) for code in KINDS]
    return [("", str(blank)), *options] if blank is not None else options


class PageForm(CheckedForm):
    """One of several forms on a page, each with its own field prefix; the CSRF token is the
    app-wide one (checked for every POST by CSRFProtect), posted as plain `csrf_token`."""

    class Meta:
        csrf = False


class FollowUpForm(PageForm):
    """Add a follow-up to a case."""

    kind = SelectField(_l("What to do"), validators=[InputRequired()])
    due_at = DateTimeLocalField(_l("Due (local time)"), format=FORMATS, validators=[InputRequired()])
    assignee_id = SelectField(_l("Assigned to"), validate_choice=False)
    referral_id = SelectField(_l("About the referral"), validate_choice=False)
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=5000)])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kind.choices = kind_choices(_l("Choose…"))


class CompleteForm(PageForm):
    """Mark a follow-up done; with a kind and a time, the next follow-up is added in the same step."""

    version = HiddenField()
    back = HiddenField()
    note = TextAreaField(_l("What was done (optional)"), validators=[Optional(), Length(max=5000)])
    next_kind = SelectField(_l("Next follow-up"), validate_choice=False)
    next_due_at = DateTimeLocalField(_l("Next due (local time)"), format=FORMATS, validators=[Optional()])
    next_note = TextAreaField(_l("Note for the next follow-up"), validators=[Optional(), Length(max=5000)])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.next_kind.choices = kind_choices(_l("No next follow-up"))

    def wants_next(self) -> bool:
        return bool(self.next_kind.data or self.next_due_at.data or (self.next_note.data or "").strip())


class CancelForm(PageForm):
    version = HiddenField()
    back = HiddenField()
