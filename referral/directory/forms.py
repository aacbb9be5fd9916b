"""Forms for networks, organisations and membership."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class NetworkForm(FlaskForm):
    governorate = StringField(_l("Governorate code (latin letters)"), validators=[DataRequired(), Length(max=32)])
    case_prefix = StringField(_l("Case code prefix (three letters)"), validators=[DataRequired(), Length(max=3)])
    name_ar = StringField(_l("Name in Arabic"), validators=[DataRequired(), Length(max=120)])
    name_en = StringField(_l("Name in English"), validators=[DataRequired(), Length(max=120)])


class NetworkEditForm(FlaskForm):
    name_ar = StringField(_l("Name in Arabic"), validators=[DataRequired(), Length(max=120)])
    name_en = StringField(_l("Name in English"), validators=[DataRequired(), Length(max=120)])
    active = BooleanField(_l("Active"))


class OrganizationForm(FlaskForm):
    name_ar = StringField(_l("Name in Arabic"), validators=[DataRequired(), Length(max=200)])
    name_en = StringField(_l("Name in English"), validators=[DataRequired(), Length(max=200)])
    kind = SelectField(_l("Kind"), validators=[DataRequired()])
    sectors = CheckboxesField(_l("Sectors"))
    governorates = CheckboxesField(_l("Governorates served"))
    accepts_referrals = BooleanField(_l("Accepts referrals"), default=True)
    active = BooleanField(_l("Active"), default=True)


class MemberForm(FlaskForm):
    organization_id = SelectField(_l("Organisation"), validators=[DataRequired()])
