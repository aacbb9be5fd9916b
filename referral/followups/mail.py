"""Notifications by e-mail, for the users who chose it: an outbox written with the notifications,
and a sender that works outside that transaction.

An e-mail says what the in-app notification says (the case code and what happened), then "log in
to review", and links to the site's notifications page, nothing more (DOMAIN.md, "Safety in communication").

Delivery: each outbox row is claimed (pending -> sending, committed), handed to the SMTP server,
then marked sent (committed). A process that dies between the two leaves the row in `sending`;
after `STALE_AFTER` it is claimed again, so an e-mail may arrive twice within that window
(at-least-once). Every send of a row carries the same Message-ID, `<outbox id@shabaka>`, by
which a receiving system can recognise the repeat. In-app notifications stay exactly once.

Logs name outbox ids and error classes, never an address or any words of a message.
"""

from __future__ import annotations

import contextlib
import logging
import smtplib
import ssl
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from email.errors import MessageError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any, Protocol

from flask import has_app_context
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from config import Settings

from ..accounts.models import User
from ..enums import LOCALES
from ..models_base import DbSession, new_id, utcnow
from .models import EmailOutbox, Notification
from .notifications import text

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5  # refusals by the server before a row is given up as `failed`
STALE_AFTER = timedelta(minutes=2)  # a `sending` row this old was left by a process that died
SMTP_TIMEOUT = 10  # seconds, for connecting and for each SMTP command


class Recipient(Protocol):
    """What composing needs of the user: where to send, and in which language."""

    @property
    def email(self) -> str | None: ...

    @property
    def locale(self) -> str: ...


# ------------------------------------------------------------------------------------ queueing
def queue_for(session: DbSession, notifications: Sequence[Notification], settings: Settings | None = None) -> list[str]:
    """Add an outbox row for each notification whose user takes e-mail and has an address,
    in `session`'s transaction (call it where the notifications are written). Returns the ids
    of the new rows, for `send_pending` after commit. A notification already queued is skipped,
    so calling this twice queues nothing more. Nothing is queued while e-mail is off."""
    settings = settings or _settings()
    if not settings.mail_enabled or not notifications:
        return []
    session.flush()  # the notifications need their ids
    by_id = {n.id: n for n in notifications}
    known = set(
        session.scalars(select(EmailOutbox.notification_id).where(EmailOutbox.notification_id.in_(list(by_id))))
    )
    user_ids = {n.user_id for n in by_id.values()}
    takers = set(
        session.scalars(
            select(User.id).where(
                User.id.in_(user_ids),
                User.notify_by_email.is_(True),
                User.active.is_(True),
                User.email.is_not(None),
                User.email != "",
            )
        )
    )
    created = []
    for notification in by_id.values():
        if notification.id in known or notification.user_id not in takers:
            continue
        row = EmailOutbox(id=new_id(), notification_id=notification.id, user_id=notification.user_id, state="pending")
        session.add(row)
        created.append(row.id)
    session.flush()
    return created


def pending_ids(session: DbSession, older_than: datetime, *, limit: int = 500) -> list[str]:
    """Rows a sweeper should hand to `send_pending` again: pending ones untouched since before
    `older_than` (created then, or last tried then), and `sending` ones left by a process that
    died (last tried more than `STALE_AFTER` ago). Oldest first."""
    stale = utcnow() - STALE_AFTER
    stmt = (
        select(EmailOutbox.id)
        .where(
            or_(
                (EmailOutbox.state == "pending")
                & (EmailOutbox.created_at < older_than)
                & (or_(EmailOutbox.last_attempt_at.is_(None), EmailOutbox.last_attempt_at < older_than)),
                (EmailOutbox.state == "sending") & (EmailOutbox.last_attempt_at < stale),
            )
        )
        .order_by(EmailOutbox.created_at)
        .limit(limit)
    )
    return list(session.scalars(stmt))


# ------------------------------------------------------------------------------------ composing
def link(settings: Settings) -> str:
    """The only link an e-mail holds: the notifications page, no ids."""
    return f"{settings.base_url.rstrip('/')}/notifications"


def compose(notification: Notification, user: Recipient, settings: Settings, *, outbox_id: str) -> EmailMessage:
    """The e-mail for one notification, in the user's language: the notification's words, the
    link and a fixed footer. The Message-ID comes from the outbox row, so a repeat of the same
    row is recognisable."""
    if not user.email:
        raise ValueError("the user has no e-mail address")
    if not has_app_context():  # flask_babel would silently fall back to the untranslated text
        raise RuntimeError("composing an e-mail needs the application context")
    locale = user.locale if user.locale in LOCALES else settings.default_locale
    with force_locale(locale):
        subject = _("Shabaka: you have a new notification")
        body = "\n\n".join(
            [
                text(notification) + "\n" + _("Log in to review."),
                _("Open your notifications: %(link)s", link=link(settings)),
                "-- \n"
                + _(
                    "This message holds nothing about the case. You receive it because you chose "
                    "e-mail notifications in Shabaka; you can turn them off on your account page."
                ),
            ]
        )
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = settings.mail_from
    message["To"] = Address(addr_spec=user.email)
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = f"<{outbox_id}@shabaka>"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(body + "\n", charset="utf-8")
    message["Content-Language"] = locale  # after set_content, which clears Content-* headers
    return message


# ------------------------------------------------------------------------------------ sending
class _TransportDown(Exception):
    """The server could not be reached, or refused the connection, TLS or the login."""


class _Transport:
    """One SMTP connection for a batch, opened when first needed and again after an error."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        smtp: smtplib.SMTP | None = None
        try:
            if s.smtp_security == "ssl":
                smtp = smtplib.SMTP_SSL(
                    s.smtp_host, s.smtp_port, timeout=SMTP_TIMEOUT, context=ssl.create_default_context()
                )
            else:
                smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=SMTP_TIMEOUT)
                if s.smtp_security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())  # never falls back to clear text
            if s.smtp_username:
                smtp.login(s.smtp_username, s.smtp_password)
            return smtp
        except (OSError, smtplib.SMTPException) as exc:
            if smtp is not None:
                _quietly_close(smtp)
            raise _TransportDown(type(exc).__name__) from None

    def send(self, message: EmailMessage) -> None:
        if self.smtp is None:
            self.smtp = self._connect()
        try:
            self.smtp.send_message(message)
        except (OSError, smtplib.SMTPException):
            self.close()  # the next message starts on a fresh connection
            raise

    def close(self) -> None:
        if self.smtp is not None:
            smtp, self.smtp = self.smtp, None
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                _quietly_close(smtp)


def _quietly_close(smtp: smtplib.SMTP) -> None:
    with contextlib.suppress(OSError):
        smtp.close()


def send_pending(session_factory: Callable[[], Session], outbox_ids: Iterable[str], settings: Settings) -> int:
    """Send these outbox rows, each committed on its own: claim, send, mark sent. Returns how
    many were sent. Rows already sent, failed, or being sent by someone else are skipped.

    A server that cannot be reached stops the batch: the row being tried goes back to pending
    without using up one of its attempts, and the rest are left as they were, for the sweeper.
    A message the server refuses counts as an attempt; after `MAX_ATTEMPTS` it is `failed`.
    Call it outside the transaction that queued the rows (`session_factory` gives a new Session)."""
    if not settings.mail_enabled:
        return 0
    sent = 0
    transport = _Transport(settings)
    try:
        for outbox_id in dict.fromkeys(outbox_ids):
            claimed = _claim(session_factory, outbox_id)
            if claimed is None:
                continue
            message = _message_for(session_factory, outbox_id, settings)
            if message is None:
                _finish(session_factory, outbox_id, "failed")
                log.warning("e-mail %s dropped: the recipient no longer takes e-mail", outbox_id)
                continue
            try:
                transport.send(message)
            except _TransportDown as down:
                _finish(session_factory, outbox_id, "pending", give_back_attempt=True)
                log.warning("e-mail %s not sent: SMTP server unavailable (%s)", outbox_id, down)
                break
            except (OSError, smtplib.SMTPException) as exc:
                code = _smtp_code(exc)
                state = "failed" if claimed >= MAX_ATTEMPTS or 500 <= code < 600 else "pending"
                _finish(session_factory, outbox_id, state)
                log.warning(
                    "e-mail %s not sent (attempt %d, now %s): %s %s",
                    outbox_id,
                    claimed,
                    state,
                    type(exc).__name__,
                    code or "",
                )
                continue
            _finish(session_factory, outbox_id, "sent")
            sent += 1
    finally:
        transport.close()
    return sent


def _smtp_code(exc: BaseException) -> int:
    """The server's reply code (5xx: refused for good), without the reply text or addresses."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _reply in exc.recipients.values()]
        return int(codes[0]) if codes else 0
    code = getattr(exc, "smtp_code", 0)
    return code if isinstance(code, int) else 0


def _claim(session_factory: Callable[[], Session], outbox_id: str) -> int | None:
    """Take the row for sending (pending, or `sending` gone stale); returns its attempt number,
    or None when it is not ours to send. One conditional UPDATE, so two senders can't both win."""
    now = utcnow()
    with session_factory() as session, session.begin():  # committed as the block ends
        result: Any = session.execute(
            update(EmailOutbox)
            .where(
                EmailOutbox.id == outbox_id,
                or_(
                    EmailOutbox.state == "pending",
                    (EmailOutbox.state == "sending") & (EmailOutbox.last_attempt_at < now - STALE_AFTER),
                ),
            )
            .values(state="sending", attempts=EmailOutbox.attempts + 1, last_attempt_at=now)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            return None  # nothing was changed
        attempts = session.scalar(select(EmailOutbox.attempts).where(EmailOutbox.id == outbox_id))
        return int(attempts or 1)


def _message_for(session_factory: Callable[[], Session], outbox_id: str, settings: Settings) -> EmailMessage | None:
    """Compose from what the row points to, as it is now: a user who has since turned e-mail
    off, lost her address or been deactivated gets nothing."""
    with session_factory() as session:
        row = session.execute(
            select(Notification, User.email, User.locale)
            .join(EmailOutbox, EmailOutbox.notification_id == Notification.id)
            .join(User, User.id == EmailOutbox.user_id)
            .where(
                EmailOutbox.id == outbox_id,
                User.notify_by_email.is_(True),
                User.active.is_(True),
            )
        ).first()
        if row is None or not row.email:
            return None
        try:
            return compose(row[0], row, settings, outbox_id=outbox_id)
        except (ValueError, MessageError):  # an address the e-mail library cannot use
            return None


def _finish(
    session_factory: Callable[[], Session], outbox_id: str, state: str, *, give_back_attempt: bool = False
) -> None:
    values: dict[str, Any] = {"state": state}
    if state == "sent":
        values["sent_at"] = utcnow()
    if give_back_attempt:
        values["attempts"] = EmailOutbox.attempts - 1
    with session_factory() as session, session.begin():  # committed as the block ends
        session.execute(
            update(EmailOutbox)
            .where(EmailOutbox.id == outbox_id, EmailOutbox.state == "sending")
            .values(**values)
            .execution_options(synchronize_session=False)
        )


def _settings() -> Settings:
    from ..runtime import runtime

    return runtime().settings
