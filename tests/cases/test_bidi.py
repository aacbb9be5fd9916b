"""Typed text is isolated from the page around it (an Arabic name on an English page, a Latin one
on an Arabic page), and lists are joined with the reader's comma."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from flask_babel import force_locale

from referral.accounts.models import User
from referral.extensions import db
from referral.i18n import isolate, list_join
from tests.conftest import Factory, arabic, sign_in
from tests.helpers.cases import World, open_case
from tests.helpers.cases import csrf_post as _post
from tests.helpers.cases import signed_in as _signed_in

NAME = "منى يوسف الخطيب"


def test_list_join_follows_the_locale(app: Flask) -> None:
    with app.test_request_context():
        with force_locale("ar"):
            assert list_join(["أ", "ب", "ج"]) == "أ، ب، ج"
        with force_locale("en"):
            assert list_join(["a", "b"]) == "a, b"
        assert list_join([], "ar") == "" and list_join(["x"], "ar") == "x"
        assert list_join(iter(["a", "b"]), "ar") == "a، b"


def test_isolate_wraps_and_escapes() -> None:
    assert str(isolate(NAME)) == f"<bdi>{NAME}</bdi>"
    assert str(isolate("<script>x</script>")) == "<bdi>&lt;script&gt;x&lt;/script&gt;</bdi>"
    assert str(isolate(None)) == "<bdi></bdi>"


def test_an_arabic_name_is_isolated_on_an_english_case_page(client: FlaskClient, app: Flask, world: World) -> None:
    case_id = open_case(app, world, full_name=NAME)
    _signed_in(client, app, world.mine.caseworker)
    listed = client.get("/cases").get_data(as_text=True)
    assert "<bdi>م. ي. خ.</bdi>" in listed  # the initials, isolated and without the article
    revealed = _post(client, f"/cases/{case_id}/reveal").get_data(as_text=True)
    assert f"<bdi>{NAME}</bdi>" in revealed


def test_an_arabic_case_page_joins_with_the_arabic_comma(client: FlaskClient, app: Flask, world: World) -> None:
    contact = {"safe_to_call": True, "safe_to_text": True, "safe_voicemail": False}
    case_id = open_case(app, world, safe_contact=contact)
    sign_in(client, app, world.mine.caseworker)  # Arabic, the default
    page = _post(client, f"/cases/{case_id}/reveal").get_data(as_text=True)
    assert f"{arabic(app, 'calls')}، {arabic(app, 'text messages')}" in page
    with app.app_context():
        db.session.get(User, world.mine.caseworker.id).locale = "en"
        db.session.commit()
    page = _post(client, f"/cases/{case_id}/reveal").get_data(as_text=True)
    assert "calls, text messages" in page


def test_organisation_names_are_isolated_in_the_directory(client: FlaskClient, app: Flask, factory: Factory) -> None:
    net = factory.network()
    org = factory.organization(net, name_en="Al-Amal Centre", name_ar="مركز الأمل")
    admin = factory.user("sysadmin", factory.organization(net))
    sign_in(client, app, admin)
    answer = client.get(f"/networks/{net.id}")
    assert answer.status_code == 200, answer.status_code
    page = answer.get_data(as_text=True)
    assert f"<bdi>{org.name_ar}</bdi>" in page  # an Arabic page: the Arabic name, isolated
