"""Fixtures used by tests in more than one folder, registered once by the root conftest
(`pytest_plugins`): the case world, and the environment and broker of a real Celery worker."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from config import BASE_DIR, Settings
from tests.conftest import Factory
from tests.helpers.cases import Org, World


@pytest.fixture
def world(factory: Factory) -> World:
    net = factory.network()

    def org() -> Org:
        o = factory.organization(net)
        return Org(
            o.id,
            factory.user("caseworker", o),
            factory.user("caseworker", o),
            factory.user("supervisor", o),
            factory.user("org_admin", o),
        )

    mine, other = org(), org()
    return World(
        net.governorate,
        mine,
        other,
        factory.user("coordinator", factory.organization(net), network=net),
        factory.user("auditor", factory.organization(net)),
        factory.user("sysadmin", factory.organization(net)),
    )


@pytest.fixture
def worker_env(settings: Settings, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REFERRAL_", "CELERY_"))}
    env.update(
        REFERRAL_ENV="development",
        REFERRAL_INSTANCE_PATH=str(tmp_path / "worker-instance"),
        DATABASE_URL=settings.database_url,
        SECRET_KEY=settings.secret_key,
        REFERRAL_ROOT_KEY=base64.b64encode(settings.root_key).decode(),
        PYTHONPATH=str(BASE_DIR),
    )
    env.pop("REDIS_URL", None)
    return env


@pytest.fixture
def use_broker(app: Flask, settings: Settings) -> Iterator[None]:
    yield
    app.config["SHABAKA_SETTINGS"] = settings
    app.extensions.pop("shabaka.celery", None)
