"""The auditors' workspace speaks the reader's language: every registered action, every object
kind and every detail key has a label in Arabic and English, coded detail values are labelled,
and people and organisations appear by name (resolved once a page, never a row at a time).
The CSV keeps the stored code columns and adds the label columns."""

from __future__ import annotations

import ast
import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import force_locale
from sqlalchemy import Engine, event, select

from referral.accounts.models import User
from referral.audit import labels, search
from referral.audit.actions import ACTIONS
from referral.audit.models import AuditEvent
from referral.audit.views import CSV_LABEL_COLUMNS
from referral.directory.models import Organization
from referral.extensions import db
from referral.models_base import new_id, utcnow
from tests.conftest import Account, arabic, csrf, sign_in
from tests.helpers.cases import World

ROOT = Path(__file__).resolve().parents[2] / "referral"
ARABIC_LETTER = re.compile(r"[\u0621-\u064a]")


def _object_kinds() -> set[str]:
    """What an event may name as its object: every table, and the trail itself (a refused read)."""
    return set(db.metadata.tables) | {"audit_trail"}


def _detail_keys() -> set[str]:
    """Every detail key written by a `record(...)` or `event(...)` call in the application."""
    skip = {"session", "outcome", "reason", "case_code", "organization_id"}
    keys: set[str] = set()
    for path in ROOT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if name in ("record", "event", "_record_each"):
                    keys.update(k.arg for k in node.keywords if k.arg and k.arg not in skip)
    # details made elsewhere: the search filters and the emergency access mark
    keys.update(search.Filters().details().keys())
    keys.update(f"filter_{name}" for name in search.Filters.__dataclass_fields__)
    keys.add("breakglass")
    return keys


@pytest.mark.parametrize("locale", ["ar", "en"])
def test_every_action_object_kind_and_detail_key_has_a_label(app: Flask, locale: str) -> None:
    assert set(labels.ACTION_LABELS) == set(ACTIONS), "labels and the registry differ"
    domains = {name.split(".", 1)[0] for name in ACTIONS}
    assert domains <= set(labels.DOMAIN_LABELS)
    kinds = _object_kinds()
    missing_kinds = kinds - set(labels.OBJECT_LABELS)
    assert not missing_kinds, f"object kinds without a label: {sorted(missing_kinds)}"
    keys = _detail_keys()
    assert len(keys) > 80  # the scan found the calls
    missing_keys = keys - set(labels.DETAIL_LABELS)
    assert not missing_keys, f"detail keys without a label: {sorted(missing_keys)}"
    areas = {rule.endpoint.split(".", 1)[0] for rule in app.url_map.iter_rules() if "." in rule.endpoint}
    assert areas - {"static"} <= set(labels.AREA_LABELS)
    with app.test_request_context(), force_locale(locale):
        shown = (
            [(code, labels.action_label(code)) for code in ACTIONS]
            + [(code, labels.object_label(code)) for code in kinds]
            + [(code, labels.detail_key_label(code)) for code in keys]
            + [(f"{d}.*", labels.action_label(f"{d}.*")) for d in domains]
        )
        for code, label in shown:
            assert label and label != code, f"{code!r} has no {locale} label"
            if locale == "ar":
                assert ARABIC_LETTER.search(label), f"{code!r} is not translated: {label!r}"
            else:
                assert not ARABIC_LETTER.search(label)


def test_coded_values_are_labelled_and_ids_of_anything_else_are_shown_as_stored(app: Flask) -> None:
    names = {"users": {"u-1": "hana.s"}, "orgs": {"o-1": "Women's Centre"}}
    with app.test_request_context(), force_locale("en"):
        shown = dict(
            labels.details_labelled(
                {
                    "to_status": "closed",
                    "fields": ["identity", "contact"],
                    "assignee_id": "u-1",
                    "to_organization_id": "o-1",
                    "case_id": "c-9",
                    "format": "xlsx",
                    "email": True,
                    "filter_action": "case.view",
                    "count": 3,
                },
                names,
            )
        )
    assert shown["To status"] == "Closed"
    assert shown["Field groups"] == (
        "Identity (name, ID number, date of birth), Contact (phone, address, safe-contact instructions)"
    )
    assert shown["Assignee"] == "hana.s" and shown["To organisation"] == "Women's Centre"
    assert shown["Case file"] == "c-9"  # a case is never resolved to anything
    assert shown["Format"] == "Spreadsheet (XLSX)" and shown["By e-mail"] == "Yes"
    assert shown["Filter: action"] == "Case file viewed" and shown["Count"] == "3"


def test_codes_recorded_as_one_string_are_labelled_one_by_one(app: Flask) -> None:
    """`shared=contact,identity` (how a referral's view records the groups it showed) reads as
    the groups' names, joined with the reader's comma; a follow-up's kind is not an organisation's."""
    with app.test_request_context(), force_locale("ar"):
        shown = dict(labels.details_labelled({"shared": "contact,identity", "kind": "safety_plan_review"}))
        assert "contact" not in shown[arabic(app, "Shared field groups")]
        assert "، " in shown[arabic(app, "Shared field groups")]
        assert arabic(app, "Kind of record") in shown


# ---------------------------------------------------------------------------------- pages
def _staff(app: Flask, world: World, count: int) -> list[tuple[str, str, str]]:
    """`count` events by the staff of both organisations, naming a colleague and an organisation
    in their details: (username, organisation name in Arabic, username named in the details)."""
    accounts: list[Account] = [world.mine.caseworker, world.mine.supervisor, world.other.caseworker]
    rows = []
    with app.app_context():
        for n in range(count):
            actor = db.session.get(User, accounts[n % len(accounts)].id)
            assignee = db.session.get(User, accounts[(n + 1) % len(accounts)].id)
            org = db.session.get(Organization, world.other.id)
            db.session.add(
                AuditEvent(
                    event_id=new_id(),
                    occurred_at=utcnow(),
                    action="referral.assign",
                    outcome="success",
                    actor_id=actor.id,
                    actor_role=actor.role,
                    actor_organization_id=actor.organization_id,
                    organization_id=actor.organization_id,
                    object_type="referral",
                    object_id=new_id(),
                    case_code="HEB-2026-000777",
                    route="referrals.assign",
                    details={"assignee_id": assignee.id, "to_organization_id": org.id, "fields": ["contact"]},
                )
            )
            rows.append((actor.username, actor.organization.name_ar, assignee.username))
        db.session.commit()
    return rows


class _Selects:
    """Counts the SELECTs of one table during a block."""

    def __init__(self, table: str) -> None:
        self.table, self.count = table, 0

    def __call__(self, conn: object, cursor: object, statement: str, *args: object) -> None:
        flat = " ".join(statement.split()).lower()
        if flat.startswith("select") and f"from {self.table}" in flat:
            self.count += 1


@pytest.fixture
def selects() -> Iterator[dict[str, _Selects]]:
    found = {"user_account": _Selects("user_account"), "organization": _Selects("organization")}
    for counter in found.values():
        event.listen(Engine, "before_cursor_execute", counter)
    yield found
    for counter in found.values():
        event.remove(Engine, "before_cursor_execute", counter)


def test_a_page_of_events_shows_labels_and_names_in_arabic(
    client: FlaskClient, app: Flask, world: World, selects: dict[str, _Selects]
) -> None:
    from tests.conftest import arabic

    written = _staff(app, world, 12)
    sign_in(client, app, world.auditor)  # Arabic, the default
    for counter in selects.values():
        counter.count = 0
    page = client.get("/audit?case_code=HEB-2026-000777")
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert arabic(app, "Referral assigned") in body and arabic(app, "Referral") in body
    assert arabic(app, "Assignee") in body and arabic(app, "To organisation") in body
    assert arabic(app, "Referral pages") in body
    for username, org_name, assignee in written:
        assert username in body and assignee in body
        assert str(org_name) in body
    with app.app_context():
        other_name = db.session.get(Organization, world.other.id).name_ar
    assert body.count(other_name) >= 12  # the details' organisation, by name on every row
    assert "assignee_id=" not in body and "to_organization_id=" not in body
    # the names of the whole page: one query for the users, one for the organisations (plus the
    # signed-in user's own and the form's list of organisations), however many rows
    assert 1 <= selects["user_account"].count <= 3
    assert 1 <= selects["organization"].count <= 4

    more = _staff(app, world, 30)
    for counter in selects.values():
        counter.count = 0
    assert len(more) == 30 and client.get("/audit?case_code=HEB-2026-000777").status_code == 200
    assert selects["user_account"].count <= 3 and selects["organization"].count <= 4


def test_the_csv_keeps_the_codes_and_adds_labels_and_names(client: FlaskClient, app: Flask, world: World) -> None:
    written = _staff(app, world, 3)
    sign_in(client, app, world.auditor)
    with app.app_context():
        db.session.get(User, world.auditor.id).locale = "en"
        db.session.commit()
    token = csrf(client, "/audit")
    response = client.post("/audit/export", data={"csrf_token": token, "case_code": "HEB-2026-000777"})
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert list(rows[0]) == [*search.COLUMNS, *CSV_LABEL_COLUMNS]
    assert len(rows) == 3
    for row, (username, _org, assignee) in zip(rows, written, strict=True):
        assert row["action"] == "referral.assign" and row["action_label"] == "Referral assigned"
        assert row["object_type"] == "referral" and row["object_type_label"] == "Referral"
        assert row["actor_username"] == username and row["actor_id"]
        assert row["actor_organization_name"] and row["organization_name"]
        assert row["route"] == "referrals.assign" and row["route_area_label"] == "Referral pages"
        assert f"Assignee: {assignee}" in row["details_labelled"]
        assert "Field groups: Contact (phone, address, safe-contact instructions)" in row["details_labelled"]
        assert '"assignee_id"' in row["details"]  # the stored JSON is kept as it was
    with app.app_context():
        assert db.session.scalar(select(AuditEvent.id).where(AuditEvent.action == "audit.export")) is not None
