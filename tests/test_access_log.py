"""No identifier reaches a log, whatever channel a search takes (issue 11, finding 1).

`make run`'s own web server (the command line scripts/run_dev.py builds, started as it starts it)
serves a SQLite database made by the operators' commands. A case is opened with a national id and
a phone number; then searched for through every channel, by the API and the pages, in a URL
(refused) and in a body (answered). Afterwards neither the access log nor anything the server
wrote holds the planted values, in any digit script or spacing.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
NATIONAL_ID = "413579863"  # valid check digit, fictional
PHONE_LOCAL = "0597312846"
PHONE_SPACED = "+970 59 731 2846"
ARABIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")

pytestmark = pytest.mark.skipif(
    os.environ.get("SHABAKA_TEST_BACKEND", "sqlite") != "sqlite", reason="make run is the embedded default"
)


def _run_dev() -> Any:
    spec = importlib.util.spec_from_file_location("run_dev", ROOT / "scripts" / "run_dev.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _forms(value: str) -> set[str]:
    """The value as typed in any script, and with the separators people use."""
    digits = "".join(ch for ch in value if ch.isdigit())
    found = {value, digits, value.translate(ARABIC), digits.translate(ARABIC), digits[-9:], digits[-7:]}
    return {f for f in found if f}


def _call(base: str, method: str, path: str, token: str | None = None, body: Any = None, form: Any = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = None
    if body is not None:
        data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)  # noqa: S310

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.fixture
def served(tmp_path: Path) -> Any:
    env = {
        **os.environ,
        "REFERRAL_ENV": "development",
        "REFERRAL_INSTANCE_PATH": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'shabaka.db'}",
        "PYTHONPATH": str(ROOT),
    }
    for name in ("TEST_DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"):
        env.pop(name, None)
    flask = [str(BIN / "flask"), "--app", "referral"]

    def cli(*args: str) -> str:
        done = subprocess.run([*flask, *args], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
        return done.stdout

    cli("init-db")
    cli("create-network", "--governorate", "nablus", "--prefix", "NBL", "--name-ar", "شبكة", "--name-en", "Net")
    organization = "--name-ar=مركز --name-en=Centre --kind=civil --sectors=legal_aid --governorates=nablus"
    cli("create-organization", *organization.split())
    cli("create-user", "--username", "worker", "--org", "Centre", "--role", "caseworker")
    token = cli("issue-token", "worker", "--days", "1").strip().splitlines()[-1]
    port = _free_port()
    access_log, server_log = tmp_path / "access.log", tmp_path / "server.log"
    with server_log.open("wb") as out:
        server = subprocess.Popen(
            _run_dev().gunicorn_command(str(port), str(access_log)), cwd=ROOT, env=env, stdout=out, stderr=out
        )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if _call(base, "GET", "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        else:
            pytest.fail("gunicorn did not start: " + server_log.read_text()[-2000:])
        yield base, token, access_log, server_log
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_no_search_puts_an_identifier_in_any_log(served: Any) -> None:
    base, token, access_log, server_log = served
    case = {
        "full_name": "Fictional Person",
        "national_id": NATIONAL_ID,
        "phone": PHONE_LOCAL,
        "governorate": "nablus",
        "age_group": "25-59",
        "sex": "female",
    }
    status, body = _call(base, "POST", "/api/v1/cases", token, body=case)
    assert status == 201, body
    code = json.loads(body)["case_code"]

    refused = []
    for value in (NATIONAL_ID, NATIONAL_ID.translate(ARABIC), PHONE_LOCAL, PHONE_SPACED):
        path = "/api/v1/cases?" + urllib.parse.urlencode({"q": value})
        status, body = _call(base, "GET", path, token)
        refused.append((status, json.loads(body)["error"]["code"]))
    assert refused == [(400, "identifier_in_url")] * 4
    for value in (NATIONAL_ID, NATIONAL_ID.translate(ARABIC), PHONE_SPACED):
        status, body = _call(base, "POST", "/api/v1/cases/search", token, body={"q": value})
        assert status == 200 and [i["case_code"] for i in json.loads(body)["items"]] == [code]
    status, body = _call(base, "GET", "/api/v1/cases?" + urllib.parse.urlencode({"q": code}), token)
    assert status == 200 and [i["case_code"] for i in json.loads(body)["items"]] == [code]
    # the pages, signed out: refused or sent to sign in, but the request line is logged all the same
    assert _call(base, "GET", "/cases?" + urllib.parse.urlencode({"q": NATIONAL_ID}))[0] in (302, 400)
    assert _call(base, "POST", "/cases", form={"q": PHONE_LOCAL})[0] in (302, 400)
    assert _call(base, "GET", "/login?" + urllib.parse.urlencode({"next": f"/cases?q={NATIONAL_ID}"}))[0] == 200

    time.sleep(0.5)  # gunicorn writes its access log line after the response
    logged = access_log.read_text(encoding="utf-8", errors="replace")
    assert logged.count("/api/v1/cases") >= 8, logged  # the log is written, just without queries
    everything = logged + server_log.read_text(encoding="utf-8", errors="replace")
    planted = _forms(NATIONAL_ID) | _forms(PHONE_LOCAL) | _forms(PHONE_SPACED)
    assert not [value for value in planted if value in everything]
