"""Make the database refuse every audit insert, as a full disk or a revoked grant would."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, event

from referral.audit.actions import ACTIONS


def refuse_audit_inserts(refused: list[str]) -> Callable[[], None]:
    """From now on an INSERT into the audit table fails on every engine (its action names are
    noted in `refused`); returns the undo."""

    def fail(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO AUDIT_EVENT"):
            for row in parameters if many else [parameters]:
                values = row.values() if isinstance(row, dict) else row
                refused.extend(v for v in values if isinstance(v, str) and v in ACTIONS)
            raise RuntimeError("the audit store refused the insert")

    event.listen(Engine, "before_cursor_execute", fail)
    return lambda: event.remove(Engine, "before_cursor_execute", fail)
