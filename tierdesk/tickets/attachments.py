"""Checks on uploaded files, done before anything is written."""

from __future__ import annotations

import mimetypes
import os
from dataclasses import dataclass

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext as _

from tierdesk.tickets.errors import ActionError

# Executables and scripts that a mail client or a browser might run when opened.
REFUSED_EXTENSIONS = frozenset({
    ".exe", ".bat", ".cmd", ".com", ".cpl", ".dll", ".hta", ".jar", ".js", ".jse", ".lnk",
    ".msi", ".msp", ".pif", ".ps1", ".psm1", ".reg", ".scr", ".sh", ".vb", ".vbe", ".vbs",
    ".ws", ".wsf", ".wsh", ".html", ".htm", ".svg", ".xhtml", ".app", ".apk", ".iso",
})
REFUSED_TYPES = frozenset({
    "application/x-msdownload", "application/x-msdos-program", "application/x-sh",
    "application/javascript", "text/javascript", "text/html", "image/svg+xml",
    "application/x-executable", "application/vnd.microsoft.portable-executable",
})


@dataclass(frozen=True)
class CheckedFile:
    upload: UploadedFile
    filename: str
    content_type: str
    size: int


def check_uploads(files: list[UploadedFile], *, already_stored: int = 0) -> list[CheckedFile]:
    """Validate every file first; refuse the lot if one is refused (nothing half-written)."""
    checked = []
    total = already_stored
    for upload in files:
        name = os.path.basename(upload.name or "") or "attachment"
        ext = os.path.splitext(name)[1].lower()
        content_type = (upload.content_type or mimetypes.guess_type(name)[0]
                        or "application/octet-stream").split(";")[0].strip().lower()
        if ext in REFUSED_EXTENSIONS or content_type in REFUSED_TYPES:
            raise ActionError(
                _("“%(name)s” was refused: files of this type can run code when opened. "
                  "Put it in a ZIP archive or describe it instead.") % {"name": name},
                field="attachments")
        size = upload.size or 0
        if size > settings.ATTACHMENT_MAX_BYTES:
            raise ActionError(
                _("“%(name)s” is %(size)s MB; the limit is %(limit)s MB a file.") % {
                    "name": name, "size": round(size / 1048576, 1),
                    "limit": settings.ATTACHMENT_MAX_BYTES // 1048576},
                field="attachments")
        total += size
        if total > settings.ATTACHMENT_MAX_TICKET_BYTES:
            raise ActionError(
                _("These files would take the ticket past its %(limit)s MB of attachments.")
                % {"limit": settings.ATTACHMENT_MAX_TICKET_BYTES // 1048576},
                field="attachments")
        checked.append(CheckedFile(upload, name[:255], content_type, size))
    return checked
