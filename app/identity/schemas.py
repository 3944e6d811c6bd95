"""Request and response bodies of the auth API."""

from __future__ import annotations

from apiflask import Schema
from apiflask.fields import DateTime, String
from apiflask.validators import Length


class LoginIn(Schema):
    tenant = String(
        load_default=None,
        allow_none=True,
        validate=Length(max=64),
        metadata={"description": "tenant slug; omit for platform operators"},
    )
    username = String(required=True, validate=Length(1, 64))
    password = String(required=True, validate=Length(1, 1024))


class LoginOut(Schema):
    token = String(required=True)
    expires_at = DateTime(required=True)


class MeOut(Schema):
    username = String(required=True)
    role = String(required=True)
    tenant = String(allow_none=True)
