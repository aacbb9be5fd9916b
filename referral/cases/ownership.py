"""Moving a whole case to another organisation (the mechanics of a transfer; the rules of who
may ask and accept are in `referrals/transfers.py`).

Every encrypted value is bound to its owning organisation, so the case cannot simply change
hands: each value the case owns is decrypted under the old owner and sealed again under the new
owner's data key and context, its document files too, and the blind indexes are recomputed with
the new owner's index key. What moves: the case row and every row of a model with a `case_id`
and an encryption owner whose owner is the case's organisation (incidents, notes, consents,
mandatory reports, documents, and any such model added later), unless the model declares
``__stays_on_transfer__ = True`` (records of what one organisation did, such as its referrals,
which stay its history). All of it happens in the caller's transaction: nothing is committed
here, and a rollback leaves the case, its rows and its files as they were.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ..models_base import DbSession, new_id
from ..security.fields import move_owner
from ..security.rotation import encrypted_models
from ..storage import Storage
from . import documents
from .models import Case, CaseDocument, CaseMember
from .services import _index, _transition_row

TRANSFER_REASON = "transferred"


def moving_models() -> list[Any]:
    """The models whose rows travel with a case: a `case_id`, an encryption owner, no opt-out."""
    found: list[Any] = []
    for model in encrypted_models():
        cls = model.mapper.class_
        if cls is Case or not model.owner or getattr(cls, "__stays_on_transfer__", False):
            continue
        if "case_id" in model.mapper.columns:
            found.append(cls)
    return found


def move_case(
    session: DbSession,
    actor: Any,
    case: Case,
    to_organization_id: str,
    new_owner_id: str,
    *,
    storage: Storage | None = None,
) -> dict[str, int]:
    """Give the case, everything it owns and its files to `to_organization_id`, with
    `new_owner_id` as the only member of the case team. Returns rows moved per table."""
    from_organization_id = case.organization_id
    rows: list[Any] = []
    moved: dict[str, int] = {}
    for cls in moving_models():
        owner = cls.__encryption_owner__
        found = list(
            session.scalars(select(cls).where(cls.case_id == case.id, getattr(cls, owner) == from_organization_id))
        )
        moved[cls.__tablename__] = len(found)
        rows.extend(found)
    files = [row for row in rows if isinstance(row, CaseDocument)]
    documents.move_files(session, files, to_organization_id, storage=storage)
    for row in rows:
        move_owner(row, to_organization_id)
    identifiers = (case.national_id, case.phone)
    move_owner(case, to_organization_id)
    case.national_id_index = _index(to_organization_id, "national_id", identifiers[0])
    case.phone_index = _index(to_organization_id, "phone", identifiers[1])
    case.owner_id = new_owner_id
    case.members.clear()  # the old organisation's team leaves with its access
    case.members.append(CaseMember(id=new_id(), case_id=case.id, user_id=new_owner_id, role="owner"))
    _transition_row(session, actor, case, case.status, TRANSFER_REASON)
    session.flush()
    moved[Case.__tablename__] = 1
    return moved
