"""Building directory services for tests, through the same service the app uses."""

from __future__ import annotations

from typing import Any

from flask import Flask

from referral.directory import services as directory
from referral.directory.models import Organization
from referral.extensions import db

SECRET_ADDRESS = "7 Hidden Lane, behind the old mill"


def make_service(app: Flask, org: Organization, **overrides: Any) -> str:
    """A committed service of `org` (governorates default to the organisation's); returns its id."""
    with app.app_context():
        found = directory.organization(db.session, org.id)
        data = directory.ServiceInput(
            name_ar=overrides.pop("name_ar", "خدمة"),
            name_en=overrides.pop("name_en", "A service"),
            sector=overrides.pop("sector", "legal_aid"),
            governorates=overrides.pop("governorates", list(found.governorates)),
            languages=overrides.pop("languages", ["ar"]),
            **overrides,
        )
        service = directory.create_service(db.session, None, found, data)
        db.session.commit()
        return service.id


def leak_address(app: Flask, service_id: str, address: str = SECRET_ADDRESS) -> None:
    """Put an address on a confidential service behind the service layer's back (as an old row
    or a bug might), to prove that no output shows it even then."""
    from referral.directory.models import Service

    with app.app_context():
        service = db.session.get(Service, service_id)
        assert service.confidential_location
        service.address = address
        db.session.commit()
