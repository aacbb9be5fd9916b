"""The statistics pages' forms: preparing a release, answering one, the register of requests."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import DateField, HiddenField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional, Regexp

from ..forms_base import CheckedForm

MONTH_FIELD = [Regexp(r"^\d{4}-(0[1-9]|1[0-2])$", message=_l("Use the form YYYY-MM."))]


class PrepareForm(CheckedForm):
    network = HiddenField()
    period_from = StringField(_l("From (month)"), validators=[InputRequired(), *MONTH_FIELD])
    period_to = StringField(_l("To (month)"), validators=[InputRequired(), *MONTH_FIELD])


class DecisionForm(CheckedForm):
    decision = RadioField(
        _l("Your organisation's answer"),
        choices=[
            SelectChoice("approved", _l("Approve the release")),
            SelectChoice("refused", _l("Refuse, with a reason")),
        ],
        validators=[InputRequired()],
    )
    note = TextAreaField(_l("Reason or comment"), validators=[Optional(), Length(max=1000)])


class RequestForm(CheckedForm):
    network = HiddenField()
    received_on = DateField(_l("Received on"), validators=[InputRequired()])
    requester = StringField(_l("Who asked (organisation and role)"), validators=[InputRequired(), Length(max=200)])
    description = TextAreaField(_l("What they asked for"), validators=[InputRequired(), Length(max=2000)])
    purpose = TextAreaField(_l("For what purpose"), validators=[InputRequired(), Length(max=2000)])


class RequestDecisionForm(CheckedForm):
    decision = SelectField(
        _l("Decision"),
        choices=[SelectChoice("approved", _l("Approved")), SelectChoice("refused", _l("Refused"))],
        validators=[InputRequired()],
    )
    release_id = SelectField(_l("Release sent in answer"), choices=[], validate_choice=False)
    decision_note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=1000)])
