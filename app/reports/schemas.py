"""Request and response bodies of the reports API."""

from __future__ import annotations

from apiflask import Schema
from apiflask.fields import DateTime, File, Integer, Nested, String
from apiflask.validators import Length, Regexp

from app.reports.images import MAX_BYTES, MAX_SIDE
from app.reports.service import FOOTER_MAX, FORMATS

# Text only: line breaks and tabs, no other control characters (no NUL, no ESC).
PLAIN_TEXT = Regexp(r"\A[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*\Z", error="control characters")


class BrandingIn(Schema):
    logo = File(  # type: ignore[no-untyped-call]  # flask-marshmallow's File is untyped
        metadata={
            "description": f"PNG or JPEG (judged by content), at most {MAX_BYTES:,} bytes and "
            f"{MAX_SIDE}×{MAX_SIDE} pixels; stored re-encoded as PNG, metadata stripped"
        }
    )
    footer = String(
        validate=[Length(max=FOOTER_MAX), PLAIN_TEXT],
        metadata={"description": "plain text shown at the foot of every report page"},
    )


class LogoOut(Schema):
    sha256 = String(required=True, metadata={"description": "of the stored (re-encoded) PNG"})
    bytes = Integer(required=True)
    width = Integer(required=True)
    height = Integer(required=True)
    content_type = String(required=True)


class BrandingOut(Schema):
    footer = String(required=True)
    logo = Nested(LogoOut, required=True, allow_none=True)
    updated_at = DateTime(required=True, allow_none=True)
    updated_by = String(required=True, allow_none=True)


class ReportQuery(Schema):
    format = String(
        load_default="html",
        metadata={"enum": list(FORMATS), "description": "html (default) or pdf; others: 400"},
    )
