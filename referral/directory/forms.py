"""Forms for networks, organisations, membership and directory services."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    DateField,
    FieldList,
    Form,
    FormField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from ..forms_base import CheckedForm


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class NetworkForm(CheckedForm):
    governorate = StringField(_l("Governorate code (latin letters)"), validators=[DataRequired(), Length(max=32)])
    case_prefix = StringField(_l("Case code prefix (three letters)"), validators=[DataRequired(), Length(max=3)])
    name_ar = StringField(_l("Name in Arabic"), validators=[DataRequired(), Length(max=120)])
    name_en = StringField(_l("Name in English"), validators=[DataRequired(), Length(max=120)])


class NetworkEditForm(CheckedForm):
    name_ar = StringField(_l("Name in Arabic"), validators=[DataRequired(), Length(max=120)])
    name_en = StringField(_l("Name in English"), validators=[DataRequired(), Length(max=120)])
    active = BooleanField(_l("Active"))


class CalendarForm(CheckedForm):
    """A network's weekend days and time zone (the choices are set by the view)."""

    weekend_days = CheckboxesField(_l("Weekend days"), coerce=int)
    time_zone = StringField(_l("Time zone"), validators=[DataRequired(), Length(max=64)])


class HolidayForm(CheckedForm):
    day = DateField(_l("Date"), validators=[DataRequired()])
    name_ar = StringField(_l("Name in Arabic"), validators=[DataRequired(), Length(max=120)])
    name_en = StringField(_l("Name in English"), validators=[DataRequired(), Length(max=120)])


class OrganizationForm(CheckedForm):
    name_ar = StringField(_l("Name in Arabic"), validators=[DataRequired(), Length(max=200)])
    name_en = StringField(_l("Name in English"), validators=[DataRequired(), Length(max=200)])
    kind = SelectField(_l("Kind"), validators=[DataRequired()])
    sectors = CheckboxesField(_l("Sectors"))
    governorates = CheckboxesField(_l("Governorates served"))
    accepts_referrals = BooleanField(_l("Accepts referrals"), default=True)
    description_ar = TextAreaField(_l("Description in Arabic"), validators=[Optional(), Length(max=2000)])
    description_en = TextAreaField(_l("Description in English"), validators=[Optional(), Length(max=2000)])
    phone = StringField(_l("Office phone"), validators=[Optional(), Length(max=40)])
    email = StringField(_l("Office e-mail"), validators=[Optional(), Length(max=254)])
    website = StringField(_l("Website"), validators=[Optional(), Length(max=200)])
    active = BooleanField(_l("Active"), default=True)


class OrganizationEntryForm(OrganizationForm):
    """An org admin's form for her own organisation's directory entry: no kind, no active switch."""

    kind = None  # type: ignore[assignment]
    active = None  # type: ignore[assignment]


class MemberForm(CheckedForm):
    organization_id = SelectField(_l("Organisation"), validators=[DataRequired()])


class FocalPointForm(Form):
    """One staff contact of a service (never a survivor's)."""

    name = StringField(_l("Name"), validators=[Optional(), Length(max=200)])
    role = StringField(_l("Role"), validators=[Optional(), Length(max=200)])
    phone = StringField(_l("Phone"), validators=[Optional(), Length(max=200)])
    email = StringField(_l("E-mail"), validators=[Optional(), Length(max=200)])


class ServiceForm(CheckedForm):
    organization_id = SelectField(_l("Organisation"), validators=[DataRequired()])
    name_ar = StringField(_l("Name in Arabic"), validators=[DataRequired(), Length(max=200)])
    name_en = StringField(_l("Name in English"), validators=[DataRequired(), Length(max=200)])
    description_ar = TextAreaField(_l("Description in Arabic"), validators=[Optional(), Length(max=4000)])
    description_en = TextAreaField(_l("Description in English"), validators=[Optional(), Length(max=4000)])
    sector = SelectField(_l("Sector"), validators=[DataRequired()])
    governorates = CheckboxesField(_l("Governorates served"))
    languages = CheckboxesField(_l("Languages"))
    eligibility = TextAreaField(_l("Eligibility"), validators=[Optional(), Length(max=4000)])
    opening_hours = StringField(_l("Opening hours"), validators=[Optional(), Length(max=500)])
    capacity_status = SelectField(_l("Capacity"), validators=[DataRequired()])
    accepting_referrals = BooleanField(_l("Accepting referrals"), default=True)
    confidential_location = BooleanField(_l("The location is confidential"))
    front_door = StringField(_l("Front door (public contact)"), validators=[Optional(), Length(max=500)])
    address = StringField(_l("Address"), validators=[Optional(), Length(max=500)])
    focal_points = FieldList(FormField(FocalPointForm), min_entries=3, max_entries=5)
    active = BooleanField(_l("Active"), default=True)
