"""A network of organisations of several sectors, and quick ways to add cases and referrals with
chosen dates and states: statistics read clear columns only, so the rows are written directly."""

from __future__ import annotations

import pytest
from flask import Flask

from tests.conftest import Factory
from tests.helpers.statistics import StatsWorld, stats_network


@pytest.fixture
def stats_world(app: Flask, factory: Factory) -> StatsWorld:
    return stats_network(app, factory, ("legal_aid", "social", "health"))
