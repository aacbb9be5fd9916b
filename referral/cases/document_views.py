"""Case documents on the web: upload (multipart, CSRF-checked like every form), a documents page,
and download as an attachment. Thin: the rules are in `documents.py`.

Uploads are the one place that accepts a body above the app's 1 MB limit: for a signed-in user
posting to the upload route the limit is raised, for that request only, to a little over the 20 MB
the service allows (so a slightly larger file gets a named refusal, a much larger one a 413). The
multipart parser is also told to keep the file in memory: by default it spools files above
500 KB to a temporary file, which would put the plaintext of a survivor's document on disk.
"""

from __future__ import annotations

import io
from typing import Any

from flask import Blueprint, Response, current_app, flash, redirect, render_template_string, request, url_for
from flask.blueprints import BlueprintSetupState
from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from ..access.policy import can
from ..errors import DomainError, NotFound
from ..extensions import db
from ..labels import message
from ..security.redirects import is_same_site_path
from ..storage import init_app as init_storage
from ..transaction import keep_on_error
from . import documents
from .models import FIELD_GROUPS, Case

documents_bp = Blueprint("documents", __name__)

UPLOAD_REQUEST_LIMIT = documents.MAX_BYTES + 1024 * 1024

FIELD_GROUP_LABELS = {
    "identity": _l("Identity"),
    "contact": _l("Contact"),
    "incident": _l("Incident"),
    "assessment": _l("Assessment"),
    "notes": _l("Notes"),
}
TYPE_LABELS = {
    "application/pdf": _l("PDF document"),
    "image/png": _l("PNG image"),
    "image/jpeg": _l("JPEG image"),
    "image/webp": _l("WebP image"),
    "image/tiff": _l("TIFF image"),
}
MESSAGES = {
    "file_required": _l("Choose a file to upload."),
    "empty_file": _l("The file is empty."),
    "file_too_large": _l("The file is larger than 20 MB."),
    "executable_file": _l("Programs cannot be attached. Upload a PDF or an image."),
    "unsupported_file_type": _l("Only PDF, PNG, JPEG, WebP and TIFF files can be attached."),
    "too_long_title": _l("Use at most 200 characters."),
    "case_closed": _l("This case is closed: documents can no longer be added."),
}

_PAGE = """{% extends "base.html" %}
{% block title %}{{ page_title }} · {{ case.case_code }}{% endblock %}
{% block content %}
<h1 class="h3">{{ page_title }} <span class="ltr text-body-secondary fs-5">{{ case.case_code }}</span></h1>
{% if case_url %}<p><a href="{{ case_url }}">{{ back_label }}</a></p>{% endif %}
{% include "cases/_documents.html" %}
{% endblock %}"""


@documents_bp.record_once
def _install(state: BlueprintSetupState) -> None:
    app = state.app
    init_storage(app)
    app.jinja_env.globals.update(
        case_documents=_case_documents,
        document_type_label=lambda code: TYPE_LABELS.get(code, code),
        field_group_label=lambda code: FIELD_GROUP_LABELS.get(code, code),
        document_field_groups=FIELD_GROUPS,
        file_size=file_size,
    )


@documents_bp.url_value_preprocessor
def _accept_upload(endpoint: str | None, values: dict[str, Any] | None) -> None:
    """Runs before the CSRF check reads the form, so these limits govern that parse."""
    if endpoint == "documents.upload" and request.method == "POST" and current_user.is_authenticated:
        request.max_content_length = UPLOAD_REQUEST_LIMIT
        request._get_file_stream = _in_memory  # type: ignore[method-assign]


def _in_memory(*args: Any, **kwargs: Any) -> io.BytesIO:
    return io.BytesIO()


def _actor() -> Any:
    return current_user._get_current_object()


def _case_documents(case: Case) -> list[documents.DocumentSummary]:
    """For the partial: the documents of a case the signed-in user may see."""
    if not can(current_user, "case.view", case):
        return []
    return documents.list_documents(db.session, case)


def file_size(size: int) -> str:
    if size < 1024 * 1024:
        return _("%(size)s KB", size=format_decimal(max(round(size / 1024, 1), 0.1)))
    return _("%(size)s MB", size=format_decimal(round(size / (1024 * 1024), 1)))


def _message(code: str) -> str:
    return str(MESSAGES[code]) if code in MESSAGES else message(code)


def _page(
    case: Case, status: int = 200, errors: dict[str, str] | None = None, form: dict[str, str] | None = None
) -> Any:
    case_url = url_for("cases.show", case_id=case.id) if "cases.show" in current_app.view_functions else None
    html = render_template_string(
        _PAGE,
        case=case,
        page_title=_("Documents"),
        case_url=case_url,
        back_label=_("Back to the case file"),
        document_errors=errors or {},
        document_form=form or {},
    )
    return html, status


def _local(target: str | None) -> str | None:
    """`target` if it is a path on this site (a redirect elsewhere would be an open redirect)."""
    return target if is_same_site_path(target) else None


# ---------------------------------------------------------------------------------- routes
@documents_bp.get("/cases/<case_id>/documents")
def case_documents(case_id: str) -> Any:
    case = documents.open_case(db.session, _actor(), case_id)
    return _page(case)


@documents_bp.post("/cases/<case_id>/documents")
def upload(case_id: str) -> Any:
    actor = _actor()
    sent = request.files.get("file")
    form = {"title": request.form.get("title", ""), "field_group": request.form.get("field_group", "")}
    try:
        documents.upload(
            db.session,
            actor,
            case_id,
            form["title"],
            form["field_group"],
            sent.stream if sent is not None and sent.filename else None,
            sent.filename if sent is not None else None,
        )
    except NotFound:
        raise
    except DomainError as error:
        # Undo the upload (no row, and the written file, if any, is deleted); the page shown
        # again lists the case's documents, so it is a view and stays recorded.
        db.session.rollback()
        case = documents.open_case(db.session, actor, case_id)
        keep_on_error()
        errors = {name: _message(code) for name, code in error.fields.items()}
        if not errors:
            errors["form"] = _message(error.message)
        flash(_("The document was not uploaded. Correct the problems below."), "danger")
        return _page(case, error.status, errors, form)
    flash(_("The document was uploaded and encrypted."), "success")
    return redirect(_local(request.form.get("next")) or url_for("documents.case_documents", case_id=case_id), 303)


@documents_bp.get("/documents/<document_id>/download")
def download(document_id: str) -> Response:
    found = documents.download(db.session, _actor(), document_id)
    response = Response(found.chunks, mimetype=found.content_type, direct_passthrough=True)
    response.content_length = found.size
    response.headers["Content-Disposition"] = f'attachment; filename="{found.filename}"'
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
