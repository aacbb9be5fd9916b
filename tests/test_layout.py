"""The page frame: the navigation grouped by area, the error summary of a refused form, and
marking a notification read in place (htmx) or with a plain form."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from referral.extensions import db
from referral.followups import notifications
from referral.followups.models import Notification
from referral.home import _NAV, menus
from tests.conftest import Account, arabic, csrf, sign_in
from tests.helpers.cases import World, intake_form

MENU_RE = re.compile(r'<li class="nav-item dropdown">(.*?)</ul>\s*</li>', re.S)


def _nav(html: str) -> str:
    return html[html.index('data-testid="nav-menus"') : html.index('data-testid="notifications-link"')]


# ---------------------------------------------------------------------------------- navigation
def test_every_role_keeps_all_its_entries_in_a_few_menus() -> None:
    for role, items in _NAV.items():
        grouped = menus(items)
        assert [i for m in grouped for i in m.items] != [] and sorted(
            i.endpoint for m in grouped for i in m.items
        ) == sorted(i.endpoint for i in items), role
        assert len(grouped) <= 6, (role, [m.key for m in grouped])
        assert len({m.key for m in grouped}) == len(grouped)
    supervisor = menus(_NAV["supervisor"])
    assert [m.key for m in supervisor] == ["followups", "cases", "referrals", "coordination", "statistics", "directory"]
    assert [i.endpoint for i in supervisor[1].items] == ["cases.index", "cases.approvals", "breakglass.index"]
    # each role keeps its own priorities: the org admin's users come first, the auditor's trail
    assert menus(_NAV["org_admin"])[0].items[0].endpoint == "admin.users"
    assert menus(_NAV["auditor"])[0].key == "audit"


def test_the_supervisors_menus_are_dropdowns_holding_every_entry_once(
    app: Flask, world: World, client: FlaskClient
) -> None:
    sign_in(client, app, world.mine.supervisor)
    nav = _nav(client.get("/cases").get_data(as_text=True))
    dropdowns = MENU_RE.findall(nav)
    assert len(dropdowns) == 5  # follow-ups, cases, referrals, coordination, directory; statistics is a link
    for block in dropdowns:
        button = re.search(r'<button class="nav-link dropdown-toggle[^"]*" type="button" id="(nav-\w+)"[^>]*>', block)
        assert button and 'data-bs-toggle="dropdown"' in button.group(0) and 'aria-expanded="false"' in button.group(0)
        assert f'aria-labelledby="{button.group(1)}"' in block
    for path in ("/cases", "/cases/approvals", "/followups", "/referrals", "/statistics"):
        assert nav.count(f'href="{path}"') == 1, path
    assert nav.count('class="dropdown-item') == 13  # the 14 entries but statistics
    # where she is: the entry and its menu
    cases_menu = next(b for b in dropdowns if 'id="nav-cases"' in b)
    assert "dropdown-toggle active" in cases_menu
    assert re.search(r'class="dropdown-item active" href="/cases" aria-current="page"', cases_menu)
    assert nav.count('aria-current="page"') == 1


def test_a_role_with_few_entries_gets_plain_links_for_single_entry_areas(
    app: Flask, world: World, client: FlaskClient
) -> None:
    sign_in(client, app, world.mine.caseworker)
    nav = _nav(client.get("/").get_data(as_text=True))
    assert 'href="/" aria-current="page"' in nav
    assert re.search(r'<li class="nav-item"><a class="nav-link" href="/followups">', nav)
    assert "nav-cases" not in nav  # "Cases" alone: a link, not a menu of one
    assert 'id="nav-directory"' in nav


# ---------------------------------------------------------------------------------- error summary
def _summary(html: str) -> str:
    start = html.index("data-error-summary")
    return html[html.rindex("<div", 0, start) : html.index("</div>", start)]


def test_a_refused_sign_in_has_an_error_summary_linking_to_its_fields(app: Flask, client: FlaskClient) -> None:
    page = client.get("/login").get_data(as_text=True)
    assert "data-error-summary" not in page
    assert not re.search(r"<title>\s*" + re.escape(arabic(app, "Error:")), page)
    token = csrf(client, "/login")
    answer = client.post("/login", data={"csrf_token": token, "username": "", "password": ""})
    html = answer.get_data(as_text=True)
    assert answer.status_code in (200, 400)
    summary = _summary(html)
    assert 'role="alert"' in summary and 'tabindex="-1"' in summary
    assert arabic(app, "There is a problem") in summary
    assert re.findall(r'href="#(\w+)"', summary) == ["username", "password"]
    assert 'id="username"' in html and 'id="password"' in html
    assert re.search(r"<title>" + re.escape(arabic(app, "Error:")) + " ", html)


def test_a_refused_case_intake_links_each_problem_to_its_field_and_keeps_the_input(
    app: Flask, world: World, client: FlaskClient
) -> None:
    sign_in(client, app, world.mine.caseworker)
    values = intake_form(world, full_name="", date_of_birth="2999-01-01")
    answer = client.post("/cases/new", data={"csrf_token": csrf(client, "/cases/new"), **values})
    html = answer.get_data(as_text=True)
    assert answer.status_code == 400
    summary = _summary(html)
    links = re.findall(r'href="#(\w+)"', summary)
    assert set(links) == {"full_name", "date_of_birth"}
    for field_id in links:
        assert f'id="{field_id}"' in html and f'id="{field_id}-error"' in html
    assert arabic(app, "The case was not saved. Correct the fields marked below.") in summary
    assert html.count("data-error-summary") == 1
    assert values["national_id"] in html  # what she typed is kept


# ---------------------------------------------------------------------------------- notifications
def _tell(app: Flask, account: Account, n: int = 2) -> list[str]:
    with app.app_context():
        told = [notifications.Message("referral.received", case_code=f"TST-2026-000{i}") for i in range(n)]
        rows = notifications.write_many(db.session, [([account.id], message) for message in told])
        db.session.commit()
        return [r.id for r in rows]


def _read_at(app: Flask, notification_id: str) -> object:
    with app.app_context():
        return db.session.scalar(select(Notification.read_at).where(Notification.id == notification_id))


def test_htmx_marks_one_notification_read_and_updates_the_unread_count(
    app: Flask, world: World, client: FlaskClient
) -> None:
    first, second = _tell(app, world.mine.caseworker)
    sign_in(client, app, world.mine.caseworker)
    inbox = client.get("/notifications").get_data(as_text=True)
    assert inbox.count('data-testid="mark-read"') == 2
    assert f'hx-post="/notifications/{first}/read"' in inbox and f'hx-target="#notification-{first}"' in inbox
    assert 'data-testid="unread-count">2' in inbox

    answer = client.post(
        f"/notifications/{first}/read", data={"csrf_token": csrf_from_inbox(client)}, headers={"HX-Request": "true"}
    )
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200
    assert "<html" not in html  # a fragment
    assert f'id="notification-{first}"' in html and 'data-testid="mark-read"' not in html
    assert "list-group-item-primary" not in html and "data-focus-on-load" in html
    assert re.search(r'<span id="unread-badge" hx-swap-oob="true">\s*<span class="badge[^>]*>1<', html)
    assert _read_at(app, first) is not None and _read_at(app, second) is None

    # the last one: the badge goes away
    html = client.post(
        f"/notifications/{second}/read", data={"csrf_token": csrf_from_inbox(client)}, headers={"HX-Request": "true"}
    ).get_data(as_text=True)
    assert '<span id="unread-badge" hx-swap-oob="true"></span>' in html
    assert 'data-testid="unread-count"' not in client.get("/").get_data(as_text=True)


def csrf_from_inbox(client: FlaskClient) -> str:
    return csrf(client, "/notifications")


def test_without_script_the_form_marks_read_and_goes_back_to_the_inbox(
    app: Flask, world: World, client: FlaskClient
) -> None:
    (one,) = _tell(app, world.mine.caseworker, 1)
    sign_in(client, app, world.mine.caseworker)
    answer = client.post(f"/notifications/{one}/read", data={"csrf_token": csrf_from_inbox(client)})
    assert answer.status_code == 303 and answer.headers["Location"].endswith(f"/notifications#notification-{one}")
    assert _read_at(app, one) is not None
    assert 'data-testid="mark-read"' not in client.get("/notifications").get_data(as_text=True)


def test_marking_another_users_notification_or_without_a_token_changes_nothing(
    app: Flask, world: World, client: FlaskClient
) -> None:
    (theirs,) = _tell(app, world.other.caseworker, 1)
    sign_in(client, app, world.mine.caseworker)
    token = csrf_from_inbox(client)
    for path in (f"/notifications/{theirs}/read", "/notifications/not-an-id/read", "/notifications/%00/read"):
        assert client.post(path, data={"csrf_token": token}, headers={"HX-Request": "true"}).status_code == 404
    assert _read_at(app, theirs) is None
    (mine,) = _tell(app, world.mine.caseworker, 1)
    assert client.post(f"/notifications/{mine}/read", headers={"HX-Request": "true"}).status_code == 400
    assert _read_at(app, mine) is None
