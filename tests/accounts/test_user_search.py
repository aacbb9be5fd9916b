"""The admins' user list: search by username or e-mail (never by a survivor's identifier),
filters by organisation, role, status and two-step sign-in, 50 a page; bad values are a 400 with
the problem named, never a 500; an org admin's list is her own organisation's only."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from referral.accounts import services
from referral.accounts.models import User
from referral.extensions import db
from tests.conftest import Factory, arabic, sign_in


def _listed(html: str) -> set[str]:
    """The usernames listed: each row links to the user's page, the admin's own row to her account."""
    return set(re.findall(r'href="(?:/admin/users/[0-9a-f-]{36}|/account/)"[^>]*>([^<]+)</a>', html))


def _set(app: Flask, username: str, **values: object) -> None:
    with app.app_context():
        found = services.find_user(db.session, username)
        assert found is not None
        for name, value in values.items():
            setattr(found, name, value)
        db.session.commit()


def test_search_and_filters_combine(client: FlaskClient, app: Flask, factory: Factory) -> None:
    net = factory.network()
    north, south = factory.organization(net), factory.organization(net)
    factory.user("caseworker", north, username="hana.khalil")
    factory.user("supervisor", north, username="rana.odeh")
    factory.user("caseworker", south, username="hanan.saleh", enrolled=False)
    factory.user("caseworker", south, username="mona_x")
    _set(app, "rana.odeh", email="Rana@Example.org")
    _set(app, "hanan.saleh", active=False)
    sign_in(client, app, factory.user("sysadmin", username="root.admin"))

    def listed(**args: str) -> set[str]:
        response = client.get("/admin/users", query_string=args)
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
        return _listed(response.get_data(as_text=True)) - {"root.admin"}

    assert listed(q="HANA") == {"hana.khalil", "hanan.saleh"}  # case does not matter
    assert listed(q="example.org") == {"rana.odeh"}  # by e-mail
    assert listed(q="_") == {"mona_x"}  # a LIKE wildcard is a plain character
    assert listed(q="%") == set()
    assert listed(organization_id=south.id) == {"hanan.saleh", "mona_x"}
    assert listed(role="supervisor", organization_id=north.id) == {"rana.odeh"}
    assert listed(status="disabled") == {"hanan.saleh"}
    assert "hanan.saleh" not in listed(status="active")
    assert listed(mfa="not_enrolled") == {"hanan.saleh"}
    assert listed(q="hana", mfa="enrolled") == {"hana.khalil"}
    page = client.get("/admin/users", query_string={"q": "hana"}).get_data(as_text=True)
    assert 'value="hana"' in page  # the search is kept in the form


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("role", "emperor"),
        ("status", "sleeping"),
        ("mfa", "maybe"),
        ("organization_id", "not-an-id"),
        ("q", "x" * 101),
        ("q", "413579860"),  # a national id
        ("q", "+970 59 731 2846"),  # a phone number
    ],
)
def test_a_bad_filter_is_a_400_naming_it(
    client: FlaskClient, app: Flask, factory: Factory, name: str, value: str
) -> None:
    sign_in(client, app, factory.user("sysadmin"))
    response = client.get("/admin/users", query_string={name: value})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert f'id="u-{name}-error"' in html and 'aria-invalid="true"' in html
    assert 'data-testid="users"' not in html  # nothing is listed on a refused search


def test_the_identifier_refusal_is_worded_in_arabic(client: FlaskClient, app: Flask, factory: Factory) -> None:
    sign_in(client, app, factory.user("sysadmin"))
    html = client.get("/admin/users", query_string={"q": "0597312846"}).get_data(as_text=True)
    assert arabic(app, "Search users by username or e-mail, never by a national ID or phone number.") in html
    assert 'id="u-q-error"' in html and 'value="0597312846"' in html


def test_an_org_admin_sees_only_her_organisation_whatever_she_asks(
    client: FlaskClient, app: Flask, factory: Factory
) -> None:
    net = factory.network()
    mine, theirs = factory.organization(net), factory.organization(net)
    factory.user("caseworker", mine, username="ours.one")
    factory.user("caseworker", theirs, username="theirs.one")
    sign_in(client, app, factory.user("org_admin", mine, username="our.admin"))
    html = client.get("/admin/users").get_data(as_text=True)
    assert _listed(html) == {"ours.one", "our.admin"}
    assert 'name="organization_id"' not in html  # no organisation filter for her
    asked = client.get("/admin/users", query_string={"organization_id": theirs.id, "q": "theirs"})
    assert asked.status_code == 200 and _listed(asked.get_data(as_text=True)) == set()
    # roles she may not grant are not offered as filters
    assert 'value="sysadmin"' not in html


def test_pages_of_fifty_keep_the_filters(client: FlaskClient, app: Flask, factory: Factory) -> None:
    org = factory.organization()
    with app.app_context():
        for n in range(services.USER_PAGE + 5):
            db.session.add(
                User(
                    organization_id=org.id,
                    role="caseworker",
                    username=f"bulk.{n:03d}",
                    password_hash="x",
                    must_change_password=False,
                )
            )
        db.session.commit()
    sign_in(client, app, factory.user("sysadmin", username="root.admin"))
    first = client.get("/admin/users", query_string={"q": "bulk"}).get_data(as_text=True)
    assert len(_listed(first)) == services.USER_PAGE and "bulk.000" in _listed(first)
    assert "page=2" in first and "q=bulk" in first
    second = client.get("/admin/users", query_string={"q": "bulk", "page": "2"}).get_data(as_text=True)
    assert _listed(second) == {f"bulk.{n:03d}" for n in range(services.USER_PAGE, services.USER_PAGE + 5)}
    for bad in ("zero", "-4", "99999999999999999999"):
        response = client.get("/admin/users", query_string={"q": "bulk", "page": bad})
        assert response.status_code == 200  # a bad page number is the nearest page, never a 500


def test_others_get_not_found(client: FlaskClient, app: Flask, factory: Factory) -> None:
    sign_in(client, app, factory.user("caseworker"))
    assert client.get("/admin/users?q=a").status_code == 404


@pytest.mark.parametrize("role", ["org_admin", "sysadmin"])
def test_every_link_of_the_list_opens(client: FlaskClient, app: Flask, factory: Factory, role: str) -> None:
    """Her own row leads to her account page (an admin does not manage herself here); every other
    row's page opens."""
    org = factory.organization()
    factory.user("caseworker", org, username="salma.caseworker")
    admin = factory.user(role, org, username="the.admin")
    sign_in(client, app, admin)
    html = client.get("/admin/users").get_data(as_text=True)
    assert re.search(r'href="/account/"[^>]*>the\.admin</a>', html)
    assert not re.search(r'href="/admin/users/[0-9a-f-]{36}"[^>]*>the\.admin<', html)
    assert {"the.admin", "salma.caseworker"} <= _listed(html)
    for path in re.findall(r'href="(/admin/users/[0-9a-f-]{36})"', html):
        assert client.get(path).status_code == 200, path
