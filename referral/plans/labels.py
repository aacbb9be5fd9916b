"""The words shown for the plans' codes and refusals (translated; the codes are the API's)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from ..labels import message

TYPE_LABELS = {
    "training": _l("Training"),
    "awareness_campaign": _l("Awareness campaign"),
    "initiative": _l("Initiative"),
    "joint_event": _l("Joint event"),
    "capacity_building": _l("Capacity building"),
    "other": _l("Other activity"),
}
STATUS_LABELS = {
    "planned": _l("Planned"),
    "ongoing": _l("Ongoing"),
    "suspended": _l("Suspended"),
    "completed": _l("Completed"),
    "cancelled": _l("Cancelled"),
}
# what the button that moves an activity to a status says
MOVE_LABELS = {
    "planned": _l("Reinstate (planned)"),
    "ongoing": _l("Mark as ongoing"),
    "suspended": _l("Suspend"),
    "completed": _l("Mark as completed"),
    "cancelled": _l("Cancel the activity"),
}
SEX_LABELS = {"female": _l("Women and girls"), "male": _l("Men and boys")}
QUARTER_LABELS = {
    1: _l("Q1 (January–March)"),
    2: _l("Q2 (April–June)"),
    3: _l("Q3 (July–September)"),
    4: _l("Q4 (October–December)"),
}

MESSAGES = {
    "invalid_year": _l("Enter a year between 2000 and 2100."),
    "plan_exists": _l("This network already has a plan for that year."),
    "not_a_member": _l("Choose organisations that are members of the network."),
    "outside_plan_year": _l("The date must fall in the plan's year."),
    "end_before_start": _l("The end comes before the start."),
    "invalid_date": _l("Enter a real date: day, month and year."),
    "in_the_future": _l("A delivery is recorded after the fact: this date has not come yet."),
    "invalid_number": _l("Enter a whole number from 0 to 100,000."),
    "case_code": _l("Remove the case code: plans and reports never name a case."),
    "too_many_files": _l("Attach at most five files."),
    "file_required": _l("Choose a file to upload."),
    "empty_file": _l("The file is empty."),
    "file_too_large": _l("The file is larger than 20 MB."),
    "executable_file": _l("Programs cannot be attached. Upload a PDF or an image."),
    "unsupported_file_type": _l("Only PDF, PNG, JPEG, WebP and TIFF files can be attached."),
    "invalid_transition": _l("The activity cannot move to that status from its present one."),
    "coordinator_only": _l("Only the network's coordinator cancels or reinstates an activity."),
    "activity_not_running": _l("The activity is suspended or cancelled: record a delivery once it runs again."),
    "invalid_month": _l("Enter a real month: month and year."),
    "unknown_meeting": _l("Choose a meeting of this network."),
}


def plan_message(code: str) -> str:
    return str(MESSAGES[code]) if code in MESSAGES else message(code)
