"""What text is accepted (issue 11, findings 4 and 5): digits in every script people type, and no
control or direction-override characters stored as a name."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from referral.cases.models import Case
from referral.extensions import db
from referral.runtime import runtime
from referral.security.crypto import blind_index
from referral.text import fold_digits, text_problem
from tests.conftest import Factory, csrf, password_step, reset_totp_step
from tests.helpers.api import token_headers
from tests.helpers.cases import World, intake, intake_form, signed_in

ARABIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
PERSIAN = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
REFUSED_IN_NAMES = ["abc\u0000def", "\u001b[31mred", "a\u202eb", "a\u202ab", "a\u2066b", "a\u2069b", "a\u200fb",
                    "a\u061cb", "a\u0085b", "a\u007fb", "a\tb", "a\nb", "a\ud800b"]  # fmt: skip
REFUSED_IN_TEXT = ["a\u0000b", "a\u0007b", "a\u001bb", "a\u0085b", "a\udfffb"]
KEPT_IN_TEXT = ["line one\nline two", "a\tb", "عربي \u200f mixed", "a\u202eb"]


def test_digits_of_every_script_fold_to_ascii() -> None:
    for table in (ARABIC, PERSIAN, FULLWIDTH):
        assert fold_digits("0599-123 456".translate(table)) == "0599-123 456"
    assert fold_digits("NBL-٢٠٢٦") == "NBL-2026"


@pytest.mark.parametrize("value", REFUSED_IN_NAMES)
def test_a_name_refuses_controls_and_direction_overrides(value: str) -> None:
    assert text_problem(value, identifying=True) == "invalid_characters"


@pytest.mark.parametrize("value", REFUSED_IN_TEXT)
def test_free_text_refuses_controls(value: str) -> None:
    assert text_problem(value, identifying=False) == "invalid_characters"


@pytest.mark.parametrize("value", KEPT_IN_TEXT)
def test_free_text_keeps_tabs_line_breaks_and_direction_marks(value: str) -> None:
    assert text_problem(value, identifying=False) is None


@pytest.mark.parametrize("name", REFUSED_IN_NAMES[:8])
def test_the_api_refuses_such_a_name_and_stores_nothing(
    client: FlaskClient, app: Flask, world: World, name: str
) -> None:
    body = {**intake(world), "full_name": name}
    response = client.post("/api/v1/cases", json=body, headers=token_headers(app, world.mine.caseworker))
    assert response.status_code == 400
    assert list(response.get_json()["error"]["fields"]) == ["full_name"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Case)) == 0


def test_the_api_refuses_an_unpaired_surrogate_by_name(client: FlaskClient, app: Flask, world: World) -> None:
    raw = '{"full_name": "Zeina \\ud800", "governorate": "' + world.governorate + '"}'
    response = client.post(
        "/api/v1/cases", data=raw, content_type="application/json", headers=token_headers(app, world.mine.caseworker)
    )
    assert response.status_code == 400 and "full_name" in response.get_json()["error"]["fields"]


def test_the_intake_form_refuses_such_a_name_and_keeps_the_input(client: FlaskClient, app: Flask, world: World) -> None:
    signed_in(client, app, world.mine.caseworker)
    form = intake_form(world, full_name="Zeina\u202e Haddad")
    response = client.post("/cases/new", data={"csrf_token": csrf(client, "/cases/new"), **form})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "characters that are not allowed" in html
    assert 'value="Zeina\u202e Haddad"' in html or "Zeina\u202e Haddad" in html  # as typed, to be corrected
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Case)) == 0


def test_a_fullwidth_national_id_finds_the_same_case(app: Flask, world: World) -> None:
    with app.app_context():
        key = runtime().keyring.index_key(world.mine.id)
        ascii_index = blind_index(key, "national_id", "987654321", "national_id")
        for table in (ARABIC, PERSIAN, FULLWIDTH):
            assert blind_index(key, "national_id", "987654321".translate(table), "national_id") == ascii_index


@pytest.mark.parametrize("table", [ARABIC, PERSIAN, FULLWIDTH], ids=["arabic-indic", "extended", "fullwidth"])
def test_a_totp_code_typed_on_an_arabic_keyboard_signs_in(
    client: FlaskClient, app: Flask, factory: Factory, table: dict[int, int]
) -> None:
    account = factory.user()
    reset_totp_step(app, account)
    password_step(client, account.username, account.password)
    code = account.totp().translate(table)
    response = client.post("/login/mfa", data={"csrf_token": csrf(client, "/login/mfa"), "code": code})
    assert response.status_code == 302 and not response.headers["Location"].startswith("/login")
    assert client.get("/account/").status_code == 200


def test_token_days_typed_in_arabic_digits_are_read(client: FlaskClient, app: Flask, factory: Factory) -> None:
    account = factory.user()
    signed_in(client, app, account)
    response = client.post(
        "/account/tokens", data={"csrf_token": csrf(client, "/account/"), "days": "٣٠", "label": "reports"}
    )
    assert response.status_code == 200 and "token" in response.get_data(as_text=True).lower()
