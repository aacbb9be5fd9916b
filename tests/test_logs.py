"""No log line written during the suite holds a password or a TOTP secret.

This test plants a password and captures the TOTP seed of a full sign-up: one-time password,
enrolment, password change, token issue, failures. It then reads every log line the suite has
written so far (the collector in conftest starts with the suite), at DEBUG level here.
"""

from __future__ import annotations

import logging
import re

import pyotp
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import LOG_COLLECTOR, Factory, csrf, password_step


def test_no_log_line_holds_a_password_or_totp_secret(client: FlaskClient, app: Flask, factory: Factory) -> None:
    root = logging.getLogger()
    previous = root.level
    root.setLevel(logging.DEBUG)
    try:
        org = factory.organization()
        admin = factory.user("org_admin", org)
        from tests.conftest import sign_in

        sign_in(client, app, admin)
        token = csrf(client, "/admin/users/new")
        created = client.post(
            "/admin/users/new",
            data={"csrf_token": token, "username": "planted.user", "organization_id": org.id, "role": "caseworker"},
        ).get_data(as_text=True)
        one_time = re.search(r'data-testid="one-time-password">([^<]+)<', created).group(1)  # type: ignore[union-attr]

        user = app.test_client()
        password_step(user, "planted.user", "Planted-Wrong-Password-0001")
        password_step(user, "planted.user", one_time)
        page = user.get("/login/mfa/enrol").get_data(as_text=True)
        secret = re.search(r'data-testid="totp-secret">([A-Z2-7 ]+)<', page).group(1).replace(" ", "")  # type: ignore[union-attr]
        token = csrf(user, "/login/mfa/enrol")
        user.post("/login/mfa/enrol", data={"csrf_token": token, "code": pyotp.TOTP(secret).now()})
        planted = "Planted-Password-Zaatar-Olive-7731"
        token = csrf(user, "/account/password")
        changed = user.post(
            "/account/password",
            data={
                "csrf_token": token,
                "current_password": one_time,
                "new_password": planted,
                "confirm_password": planted,
            },
        )
        assert changed.status_code == 302
        token = csrf(user, "/account/")
        issued = user.post("/account/tokens", data={"csrf_token": token, "label": "x", "days": "5"})
        raw_token = re.search(r'data-testid="token">([^<]+)<', issued.get_data(as_text=True)).group(1)  # type: ignore[union-attr]
        user.get("/api/v1/me", headers={"Authorization": f"Bearer {raw_token}"})
    finally:
        root.setLevel(previous)

    logging.getLogger("tests").info("log check ran")  # the collector is live
    assert any("log check ran" in line for line in LOG_COLLECTOR.lines)
    text = "\n".join(LOG_COLLECTOR.lines)
    for value in (
        one_time,
        planted,
        "Planted-Wrong-Password-0001",
        secret,
        raw_token,
        admin.password,
        admin.totp_secret,
    ):
        assert value and value not in text
