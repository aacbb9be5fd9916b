"""The coordination pages' forms. Free text is checked again by the services (case codes)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import DateField, HiddenField, IntegerField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, NumberRange, Optional, Regexp

from ..forms_base import CheckedForm, digits

TIME_FIELD = [Regexp(r"^([01]\d|2[0-3]):[0-5]\d$", message=_l("Use the form HH:MM (24 hours)."))]
WEEKDAYS = [
    SelectChoice("0", _l("Monday")),
    SelectChoice("1", _l("Tuesday")),
    SelectChoice("2", _l("Wednesday")),
    SelectChoice("3", _l("Thursday")),
    SelectChoice("4", _l("Friday")),
    SelectChoice("5", _l("Saturday")),
    SelectChoice("6", _l("Sunday")),
]
WEEKS = [
    SelectChoice("1", _l("First")),
    SelectChoice("2", _l("Second")),
    SelectChoice("3", _l("Third")),
    SelectChoice("4", _l("Fourth")),
    SelectChoice("5", _l("Last")),
]
PRIORITY_CHOICES = [
    SelectChoice("high", _l("High")),
    SelectChoice("medium", _l("Medium")),
    SelectChoice("low", _l("Low")),
]
STATUS_CHOICES = [
    SelectChoice("open", _l("Open")),
    SelectChoice("in_progress", _l("In progress")),
    SelectChoice("done", _l("Done")),
    SelectChoice("dropped", _l("Dropped")),
]
ATTENDANCE_CHOICES = [
    SelectChoice("attended", _l("Attended")),
    SelectChoice("excused", _l("Excused")),
    SelectChoice("absent", _l("Absent")),
]
RESPONSE_CHOICES = [
    SelectChoice("attending", _l("I will attend")),
    SelectChoice("excused", _l("I am excused")),
    SelectChoice("delegating", _l("I delegate someone")),
]


class RepresentativeForm(CheckedForm):
    user_id = SelectField(_l("Staff member"), choices=[], validators=[InputRequired()])


class MeetingChangeForm(CheckedForm):
    """When and where: a new meeting's, or a change of one not yet held."""

    day = DateField(_l("Date"), validators=[InputRequired()])
    local_time = StringField(
        _l("Time (the network's time zone)"), filters=[digits], validators=[InputRequired(), *TIME_FIELD]
    )
    duration_minutes = IntegerField(
        _l("Duration (minutes)"), default=120, validators=[InputRequired(), NumberRange(min=15, max=600)]
    )
    place = StringField(_l("Place"), validators=[Optional(), Length(max=300)])
    online_link = StringField(_l("Online link"), validators=[Optional(), Length(max=500)])


class MeetingForm(MeetingChangeForm):
    title = StringField(_l("Title"), validators=[InputRequired(), Length(max=200)])
    agenda = TextAreaField(
        _l("Agenda items, one a line: title | minutes | presenter"), validators=[Optional(), Length(max=8000)]
    )


class SeriesForm(CheckedForm):
    title = StringField(_l("Title"), validators=[InputRequired(), Length(max=200)])
    recurrence = SelectField(
        _l("Recurrence"),
        choices=[
            SelectChoice("monthly_day", _l("Monthly, on a day of the month")),
            SelectChoice("monthly_weekday", _l("Monthly, on a weekday of a week")),
        ],
        validators=[InputRequired()],
    )
    day_of_month = IntegerField(_l("Day of the month"), validators=[Optional(), NumberRange(min=1, max=31)])
    week_of_month = SelectField(_l("Week"), choices=WEEKS, validators=[Optional()])
    weekday = SelectField(_l("Weekday"), choices=WEEKDAYS, validators=[Optional()])
    local_time = StringField(
        _l("Time (the network's time zone)"), filters=[digits], validators=[InputRequired(), *TIME_FIELD]
    )
    first_on_or_after = DateField(_l("First meeting on or after"), validators=[Optional()])
    duration_minutes = IntegerField(
        _l("Duration (minutes)"), default=120, validators=[InputRequired(), NumberRange(min=15, max=600)]
    )
    place = StringField(_l("Place"), validators=[Optional(), Length(max=300)])
    online_link = StringField(_l("Online link"), validators=[Optional(), Length(max=500)])


class AgendaItemForm(CheckedForm):
    title = StringField(_l("Item"), validators=[InputRequired(), Length(max=200)])
    minutes = IntegerField(
        _l("Length in minutes"), default=15, validators=[InputRequired(), NumberRange(min=1, max=240)]
    )
    presenter = StringField(_l("Presenter"), validators=[Optional(), Length(max=200)])


class ResponseForm(CheckedForm):
    response = RadioField(_l("Your answer"), choices=RESPONSE_CHOICES, validators=[InputRequired()])
    delegate_name = StringField(
        _l("Who attends in your place (name and role)"), validators=[Optional(), Length(max=200)]
    )


class AttendanceForm(CheckedForm):
    organization_id = HiddenField(validators=[InputRequired()])
    status = SelectField(_l("Attendance"), choices=ATTENDANCE_CHOICES, validators=[InputRequired()])
    representative = StringField(_l("Who"), validators=[Optional(), Length(max=200)])
    role = StringField(_l("In what role"), validators=[Optional(), Length(max=200)])


class MinuteTakerForm(CheckedForm):
    user_id = SelectField(_l("Minute-taker"), choices=[], validate_choice=False, validators=[Optional()])


class CommentForm(CheckedForm):
    body = TextAreaField(_l("Your comment"), validators=[InputRequired(), Length(max=4000)])


class ActionPointForm(CheckedForm):
    description = TextAreaField(_l("Action"), validators=[InputRequired(), Length(max=2000)])
    agenda_item_id = SelectField(_l("From agenda item"), choices=[], validate_choice=False, validators=[Optional()])
    owner_organization_id = SelectField(_l("Owner organisation"), choices=[], validators=[InputRequired()])
    owner_user_id = SelectField(
        _l("Owner person (optional)"), choices=[], validate_choice=False, validators=[Optional()]
    )
    due_date = DateField(_l("Due date"), validators=[InputRequired()])
    priority = SelectField(_l("Priority"), choices=PRIORITY_CHOICES, default="medium", validators=[InputRequired()])


class ActionPointUpdateForm(CheckedForm):
    status = SelectField(_l("Status"), choices=STATUS_CHOICES, validators=[InputRequired()])
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=2000)])
