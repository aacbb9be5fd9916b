"""Forms for consent and referrals. They keep what was typed; the rules are in the services."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, HiddenField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional

from ..directory.forms import CheckboxesField
from ..forms_base import CheckedForm


class ConsentForm(CheckedForm):
    given_by = SelectField(_l("Given by"), validators=[InputRequired()])
    method = SelectField(_l("How it was given"), validators=[InputRequired()])
    organization_ids = CheckboxesField(_l("Organisations it covers"))
    sectors = CheckboxesField(_l("Sectors it covers"))
    field_groups = CheckboxesField(_l("Information it covers"))
    purpose = TextAreaField(_l("Purpose"), validators=[InputRequired(), Length(max=2000)])
    minor_assent = BooleanField(_l("The child agreed (assent)"))
    best_interest_reason = TextAreaField(
        _l("Best-interest reason (if the child did not assent)"), validators=[Optional(), Length(max=2000)]
    )


class ReferralForm(CheckedForm):
    receiver_kind = RadioField(
        _l("Refer to"),
        choices=[
            SelectChoice("member", _l("A member organisation")),
            SelectChoice("external", _l("A provider outside the network")),
        ],
        default="member",  # left out: a member organisation, as before there was a choice
        validators=[Optional()],
    )
    to_organization_id = SelectField(_l("Member organisation"), validators=[Optional()])
    service_id = HiddenField(validators=[Optional(), Length(max=36)])
    external_provider = StringField(_l("Name of the provider"), validators=[Optional(), Length(max=200)])
    external_sector = SelectField(_l("Sector of the provider"), validators=[Optional()])
    priority = SelectField(_l("Priority"), validators=[InputRequired()])
    field_groups = CheckboxesField(_l("Information to share"))
    consent_id = SelectField(_l("Consent relied on"), validators=[Optional()])
    reason = TextAreaField(_l("Reason for the referral"), validators=[InputRequired(), Length(max=5000)])


class AnswerForm(CheckedForm):
    """The receiving or sending side moves a referral: a coded reason, an outcome or a note (for a
    referral outside the network, the note says what the provider answered or did)."""

    reason_code = SelectField(_l("Reason"), validators=[Optional()])
    reason = StringField(_l("Reason"), validators=[Optional(), Length(max=32)])
    outcome = TextAreaField(_l("Outcome"), validators=[Optional(), Length(max=5000)])
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=5000)])
    open_case = BooleanField(_l("Also open our own case file from this referral"))


class LogForm(CheckedForm):
    """A progress entry of the receiving side: what was done, and the next step if any."""

    text = TextAreaField(_l("What was done"), validators=[InputRequired(), Length(max=5000)])
    next_step = TextAreaField(_l("Next step (optional)"), validators=[Optional(), Length(max=2000)])


class OpenCaseForm(CheckedForm):
    """Open the receiving organisation's own case file from the referral (a button)."""


class AssignForm(CheckedForm):
    user_id = SelectField(_l("Caseworker"), validators=[InputRequired()])


class MandatoryReportForm(CheckedForm):
    authority = StringField(_l("Reported to (authority)"), validators=[InputRequired(), Length(max=200)])
    reported_on = StringField(_l("Date of the report"), validators=[InputRequired(), Length(max=10)])
    told_first = SelectField(_l("Who was told before the report"), validators=[InputRequired()])
    notes = TextAreaField(_l("Notes"), validators=[Optional(), Length(max=5000)])


class TransferForm(CheckedForm):
    to_organization_id = SelectField(_l("Transfer to"), validators=[InputRequired()])
    consent_id = SelectField(_l("Consent relied on"), validators=[Optional()])
    override_legal_basis = SelectField(_l("Or, without consent, the legal basis"), validators=[Optional()])
    reason = TextAreaField(_l("Reason for the transfer"), validators=[InputRequired(), Length(max=5000)])


class TransferAcceptForm(CheckedForm):
    new_owner_id = SelectField(_l("New case manager"), validators=[InputRequired()])


class TransferDeclineForm(CheckedForm):
    reason_code = SelectField(_l("Reason"), validators=[InputRequired()])
