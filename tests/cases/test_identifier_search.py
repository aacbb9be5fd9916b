"""Identifiers travel in request bodies, never in URLs; a search with nothing to match finds nothing
(issue 11, findings 1 and 8)."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from referral.cases import services
from referral.extensions import db
from tests.helpers.api import token_headers
from tests.helpers.cases import MARKER_ID, MARKER_PHONE, World, csrf_post, open_case, signed_in, user

ARABIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
PERSIAN = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


@pytest.mark.parametrize(
    "q",
    [
        MARKER_ID,
        MARKER_ID.translate(ARABIC),
        MARKER_ID.translate(PERSIAN),
        MARKER_ID.translate(FULLWIDTH),
        MARKER_PHONE,
        "0591112233",
        "987-654-321",
        "123456",  # part of one is still one
    ],
)
def test_an_identifier_in_the_api_url_is_refused(client: FlaskClient, app: Flask, world: World, q: str) -> None:
    open_case(app, world)
    response = client.get("/api/v1/cases", query_string={"q": q}, headers=token_headers(app, world.mine.caseworker))
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "identifier_in_url" and error["fields"] == {"q": "identifier_in_url"}
    assert q not in response.get_data(as_text=True)


@pytest.mark.parametrize("q", ["abc", "---", "()+", "NBL-2026", "أحمد"])
def test_a_search_with_no_digits_matches_nothing(app: Flask, world: World, q: str) -> None:
    """Not the cases whose national id or phone is empty (the blind index of nothing)."""
    open_case(app, world, national_id=None, phone=None)
    open_case(app, world, national_id=None, phone=None)
    with app.app_context():
        actor = user(world.mine.caseworker)
        assert len(services.list_cases(db.session, actor).items) == 2
        assert services.list_cases(db.session, actor, identifier=q).items == []
        assert services.list_cases(db.session, actor, q=q).items == []


def test_the_api_search_with_no_digits_matches_nothing(client: FlaskClient, app: Flask, world: World) -> None:
    open_case(app, world, national_id=None, phone=None)
    response = client.post("/api/v1/cases/search", json={"q": "abc"}, headers=token_headers(app, world.mine.caseworker))
    assert response.status_code == 200 and response.get_json()["items"] == []


@pytest.mark.parametrize("body", [{}, {"q": ""}, {"q": 123}, {"q": "x" * 65}, {"q": MARKER_ID, "name": "x"}, []])
def test_the_api_search_names_a_bad_body(client: FlaskClient, app: Flask, world: World, body: object) -> None:
    response = client.post("/api/v1/cases/search", json=body, headers=token_headers(app, world.mine.caseworker))
    assert response.status_code == 400 and response.get_json()["error"]["fields"]


def test_the_case_list_page_refuses_an_identifier_in_its_address(client: FlaskClient, app: Flask, world: World) -> None:
    case_id = open_case(app, world)
    signed_in(client, app, world.mine.caseworker)
    with app.app_context():
        code = db.session.get(services.Case, case_id).case_code
    refused = client.get("/cases", query_string={"q": MARKER_ID})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 400
    assert "may not be put in a page address" in html and code not in html and MARKER_ID not in html
    by_code = client.get("/cases", query_string={"q": code})
    assert by_code.status_code == 200 and code in by_code.get_data(as_text=True)
    searched = csrf_post(client, "/cases", {"q": MARKER_ID})  # the search box posts: the value stays out of the URL
    assert searched.status_code == 200 and code in searched.get_data(as_text=True)
