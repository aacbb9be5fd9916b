"""The plans' forms. Fields are plain text and choices: the service checks every rule (members of
the network, dates in the plan's year, numbers, no case code) and names the field it refuses, so a
page shows exactly what the API would say, with the input kept."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, HiddenField, MultipleFileField, SelectField, StringField, TextAreaField
from wtforms.validators import Optional

from ..cases.forms import CheckboxesField, RequiredByService
from ..cases.models import AGE_GROUPS, SEXES
from ..forms_base import CheckedForm, digits


class PlanForm(CheckedForm):
    network = SelectField(_l("Network"), choices=[], validate_choice=False)
    year = StringField(_l("Year"), filters=[digits], validators=[RequiredByService()])


class ActivityForm(CheckedForm):
    title = StringField(_l("Title"), validators=[RequiredByService()])
    activity_type = SelectField(_l("Type of activity"), choices=[], validate_choice=False)
    responsible_organization_id = SelectField(_l("Responsible organisation"), choices=[], validate_choice=False)
    partner_organization_ids = CheckboxesField(_l("Partner organisations"), choices=[], validate_choice=False)
    planned_start = StringField(_l("Planned start"), filters=[digits], validators=[RequiredByService()])
    planned_end = StringField(_l("Planned end"), filters=[digits], validators=[RequiredByService()])
    governorate = SelectField(_l("Place (governorate)"), choices=[], validate_choice=False)
    target_sectors = CheckboxesField(_l("Target sectors"), choices=[], validate_choice=False)
    target_participants = StringField(_l("Target participants"), filters=[digits])
    meeting_id = StringField(_l("Meeting (its id), if a meeting decided it"), validators=[Optional()])
    decision_ref = StringField(_l("Decision reference in the minutes"), validators=[Optional()])


class StatusForm(CheckedForm):
    status = HiddenField()


def participant_field(sex: str, group: str) -> str:
    return f"p_{sex}_{group.replace('-', '_').replace('+', 'plus')}"


class DeliveryForm(CheckedForm):
    delivered_from = StringField(_l("Delivered from"), filters=[digits], validators=[RequiredByService()])
    delivered_to = StringField(_l("Delivered until (if more than one day)"), filters=[digits])
    organization_ids = CheckboxesField(_l("Organisations that took part"), choices=[], validate_choice=False)
    report = TextAreaField(_l("Short report (no names, no case codes)"), render_kw={"rows": 4}, validators=[Optional()])
    files = MultipleFileField(_l("Attachments (PDF or images, at most five)"))
    completes = BooleanField(_l("This delivery completes the activity"))


for _sex in SEXES:
    for _group in AGE_GROUPS:
        setattr(DeliveryForm, participant_field(_sex, _group), StringField(_group, filters=[digits], default="0"))
