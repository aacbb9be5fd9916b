"""The meeting pack's pages: the coordinator asks for a new version on the meeting page, its
status row is polled there (htmx) until it is ready, and the members read it as HTML or download
its PDF, in the reader's language or the one asked (`?lang=ar|en`). Thin: the rules are in
pack.py."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from ..errors import DomainError, NotFound
from ..extensions import db
from ..forms_base import attempt
from ..i18n import RTL, current_locale_code
from ..labels import MESSAGES
from . import pack

meeting_pack_bp = Blueprint("meeting_pack", __name__, url_prefix="/coordination")

MESSAGES.update(
    {
        "pack_pending": _l("A version of the pack is still being prepared: wait until it is ready or failed."),
        "pack_not_ready": _l("This version of the pack is not ready."),
        "invalid_language": _l("Choose Arabic (ar) or English (en)."),
    }
)
STATE_LABELS = {
    "queued": _l("Queued"),
    "generating": _l("Being prepared"),
    "ready": _l("Ready"),
    "failed": _l("Failed"),
}
LANGUAGE_LABELS = {"ar": "العربية", "en": "English"}


def _problem(error: DomainError) -> str:
    from .views import _problem as problem

    return problem(error)


def _lang() -> str:
    if len(request.args.getlist("lang")) > 1:
        abort(400)
    try:
        return pack.locale_of(request.args.get("lang"), current_locale_code())
    except DomainError:
        abort(400)


@meeting_pack_bp.post("/meetings/<meeting_id>/pack")
def generate(meeting_id: str) -> Any:
    """Queue a new version of the pack; back to the meeting page, where its status shows."""
    try:
        found, error = attempt(lambda: pack.request_pack(db.session, current_user, meeting_id), catch_not_found=False)
    except NotFound:
        abort(404)
    if error is not None:
        flash(_problem(error), "danger")
        return redirect(url_for("coordination.meeting", meeting_id=meeting_id, _anchor="pack"), 303)
    flash(_("Version %(n)d of the meeting pack is being prepared.", n=found.version), "success")
    return redirect(url_for("coordination.meeting", meeting_id=meeting_id, _anchor="pack"), 303)


@meeting_pack_bp.get("/packs/<pack_id>/status")
def status(pack_id: str) -> Any:
    """The status row alone (polled while the pack is queued or being prepared)."""
    try:
        found = pack.pack_for(db.session, current_user, pack_id)
    except NotFound:
        abort(404)
    response = Response(render_template("coordination/pack/_status.html", p=found, state_labels=STATE_LABELS))
    response.headers["Cache-Control"] = "no-store"
    return response


@meeting_pack_bp.get("/packs/<pack_id>")
def view(pack_id: str) -> Any:
    """The pack on screen, from its frozen content, in the chosen language."""
    lang = _lang()
    try:
        found = pack.view_pack(db.session, current_user, pack_id)
    except NotFound:
        abort(404)
    sheet = None
    if found.state == "ready" and found.content is not None:
        with force_locale(lang):
            sheet = pack.sheet(found.content, lang)
    return render_template(
        "coordination/pack/view.html",
        p=found,
        sheet=sheet,
        lang=lang,
        pack_dir="rtl" if lang in RTL else "ltr",
        languages=LANGUAGE_LABELS,
        state_labels=STATE_LABELS,
    )


@meeting_pack_bp.get("/packs/<pack_id>/pack.pdf")
def download(pack_id: str) -> Any:
    lang = _lang()
    try:
        found, body = pack.download_pack(db.session, current_user, pack_id, lang)
    except NotFound:
        abort(404)
    response = Response(body, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="meeting-pack-v{found.version}-{lang}.pdf"'
    response.headers["Cache-Control"] = "no-store"
    return response
