"""National ids and phones: checked (a wrong one refused, with its field named, on the form and
in the API), stored in one form, and found by any written form of the same number."""

from __future__ import annotations

import random
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from referral.cases import services
from referral.cases.models import Case
from referral.extensions import db
from referral.text import clean_national_id, clean_phone, national_id_checks, with_check_digit
from tests.conftest import within
from tests.helpers.api import bearer as _auth
from tests.helpers.api import raw_token as _token
from tests.helpers.cases import MARKER_ID, World, intake, open_case, user
from tests.helpers.cases import csrf_post as _post
from tests.helpers.cases import intake_form as _intake_form
from tests.helpers.cases import signed_in as _signed_in


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("987654324", "987654324"),
        ("987-654-324", "987654324"),
        (" 987 654 324 ", "987654324"),
        ("٩٨٧٦٥٤٣٢٤", "987654324"),  # Arabic-Indic digits
        ("۹۸۷۶۵۴۳۲۴", "987654324"),  # Extended Arabic-Indic
        ("９８７６５４３２４", "987654324"),  # fullwidth
        ("000000000", "000000000"),
    ],
)
def test_a_national_id_with_a_right_check_digit_is_kept_as_nine_digits(typed: str, stored: str) -> None:
    assert clean_national_id(typed) == stored


@pytest.mark.parametrize("typed", ["987654321", "98765432", "9876543240", "98765432x", "abcdefghi", "+987654324"])
def test_a_wrong_national_id_is_refused(typed: str) -> None:
    assert clean_national_id(typed) is None


def test_the_check_digit_follows_the_weights_one_two() -> None:
    # 4 1 1 0 2 3 4 5 ?: 4 + 2 + 1 + 0 + 2 + 6 + 4 + (1+0) = 20, so the check digit is 0.
    assert national_id_checks("411023450")
    assert not any(national_id_checks(f"41102345{d}") for d in "123456789")
    rng = random.Random(7)
    for _ in range(200):
        made = with_check_digit(f"{rng.randrange(10**8):08d}")
        assert national_id_checks(made) and sum(national_id_checks(made[:8] + d) for d in "0123456789") == 1


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("0591112233", "+970 59 111 2233"),
        ("059-111-2233", "+970 59 111 2233"),
        ("+970 59 111 2233", "+970 59 111 2233"),
        ("+972591112233", "+970 59 111 2233"),
        ("00970 59 111 2233", "+970 59 111 2233"),
        ("00972-59-111-2233", "+970 59 111 2233"),
        ("+970 (0)59 111 2233", "+970 59 111 2233"),
        ("٠٥٦٩٨٧٦٥٤٣", "+970 56 987 6543"),
        ("02 298 1234", "+970 2 298 1234"),
        ("+970-9-2345678", "+970 9 234 5678"),
        ("08-2861234", "+970 8 286 1234"),
        ("04 250 0000", "+970 4 250 0000"),
    ],
)
def test_phones_are_stored_in_one_form(typed: str, stored: str) -> None:
    assert clean_phone(typed) == stored


@pytest.mark.parametrize(
    "typed",
    ["+970 1", "0501234567", "059111223", "05911122334", "0312345678", "591112233", "+44 20 7946 0000", "call me", "0"],
)
def test_what_is_not_a_phone_number_is_refused(typed: str) -> None:
    assert clean_phone(typed) is None


def _cases(app: Flask) -> int:
    with within(app):
        return int(db.session.scalar(select(func.count(Case.id))) or 0)


def test_the_service_refuses_a_wrong_id_and_phone_naming_both(app: Flask, world: World) -> None:
    with app.app_context():
        with pytest.raises(services.InvalidInput) as refused:
            services.create_case(
                db.session,
                user(world.mine.caseworker),
                services.CaseInput(intake(world, national_id="987654321", phone="12345")),
            )
        assert refused.value.fields == {"national_id": "national_id_check_digit", "phone": "invalid_phone"}
        db.session.rollback()
    assert _cases(app) == 0


def test_an_unknown_id_and_phone_are_left_empty(app: Flask, world: World) -> None:
    case_id = open_case(app, world, national_id="", phone=None)
    with app.app_context():
        case = db.session.get(Case, case_id)
        assert case.national_id is None and case.phone is None
        assert case.national_id_index is None and case.phone_index is None


def test_the_form_names_the_wrong_id_and_keeps_what_was_typed(client: FlaskClient, app: Flask, world: World) -> None:
    _signed_in(client, app, world.mine.caseworker)
    answer = _post(client, "/cases/new", _intake_form(world, national_id="987654321", phone="059 111"))
    assert answer.status_code == 400
    html = answer.get_data(as_text=True)
    assert "A national ID number has 9 digits and a valid check digit" in html
    assert "Enter a Palestinian mobile" in html
    assert 'value="987654321"' in html and 'value="059 111"' in html
    assert _cases(app) == 0


def test_the_form_stores_the_one_form_of_a_phone(client: FlaskClient, app: Flask, world: World) -> None:
    _signed_in(client, app, world.mine.caseworker)
    made = _post(client, "/cases/new", _intake_form(world, national_id="٩٨٧-٦٥٤-٣٢٤", phone="00972 56 123 4567"))
    assert made.status_code == 303, made.get_data(as_text=True)[:1000]
    with app.app_context():
        case = db.session.scalars(select(Case)).one()
        assert case.national_id == MARKER_ID and case.phone == "+970 56 123 4567"


def _api(app: Flask, world: World) -> dict[str, str]:
    return _auth(_token(app, world.mine.caseworker.id))


def test_the_api_answers_a_field_level_400(client: FlaskClient, app: Flask, world: World) -> None:
    headers = _api(app, world)
    for body, field, status in (
        (intake(world, national_id="12345"), "national_id", 400),  # not nine digits: malformed
        (intake(world, phone="+970 1"), "phone", 400),
        (intake(world, national_id="123456789"), "national_id", 422),  # a wrong check digit: a rule
    ):
        answer = client.post("/api/v1/cases", json=body, headers=headers)
        assert answer.status_code == status, answer.get_data(as_text=True)[:300]
        assert list(answer.get_json()["error"]["fields"]) == [field]
    assert _cases(app) == 0
    made = client.post("/api/v1/cases", json=intake(world, phone="059-111-2233"), headers=headers)
    assert made.status_code == 201
    shown = client.get(f"/api/v1/cases/{made.get_json()['id']}", headers=headers).get_json()
    assert shown["phone"] == "+970 59 111 2233"


@pytest.mark.parametrize(
    "q",
    ["987654324", "987 654 324", "٩٨٧٦٥٤٣٢٤", "0591112233", "+972 59 111 2233", "00970-59-111-2233", "٠٥٩١١١٢٢٣٣"],
)
def test_any_written_form_finds_the_case(client: FlaskClient, app: Flask, world: World, q: str) -> None:
    case_id = open_case(app, world)  # MARKER_ID, "+970 59 111 2233"
    found = client.post("/api/v1/cases/search", json={"q": q}, headers=_api(app, world))
    assert found.status_code == 200 and [i["id"] for i in found.get_json()["items"]] == [case_id]


def test_a_case_stored_before_the_rule_is_found_by_its_new_form(app: Flask, world: World) -> None:
    """An index computed from a phone as it was once typed ("059 111 2233") equals the one of
    its stored form: the index reads digits in the national form either way."""
    case_id = open_case(app, world)
    with app.app_context():
        case = db.session.get(Case, case_id)
        assert case.phone_index == services._index(case.organization_id, "phone", "059 111 2233")
        assert case.national_id_index == services._index(case.organization_id, "national_id", "987-654-324")


def test_the_demo_makes_valid_identifiers() -> None:
    from referral.demo_cases import _identity, _plan

    rng = random.Random(1)
    for item in _plan("nablus")[:20]:
        values: dict[str, Any] = _identity(rng, "nablus", item)
        assert clean_national_id(values["national_id"]) == values["national_id"]
        assert clean_phone(values["phone"]) == values["phone"]
