"""Request and response bodies of the decision API and the decision log."""

from __future__ import annotations

from apiflask import Schema
from apiflask.fields import Boolean, DateTime, Dict, Float, Integer, List, Nested, String
from apiflask.validators import Length, OneOf, Range

from app.identity.models import ROLES


class PrincipalIn(Schema):
    id = String(required=True, validate=Length(1, 128))
    role = String(required=True, validate=OneOf(ROLES))
    tenant = String(load_default=None, allow_none=True, validate=Length(max=64))


class ResourceIn(Schema):
    type = String(required=True, validate=Length(1, 32))
    id = String(required=True, validate=Length(1, 128))
    tenant = String(load_default=None, allow_none=True, validate=Length(max=64))
    legal_hold = Boolean(load_default=False)


class DecideIn(Schema):
    principal = Nested(PrincipalIn, required=True)
    action = String(required=True, validate=Length(1, 32))
    resource = Nested(ResourceIn, required=True)
    context = Dict(keys=String(), load_default=dict)


class DecideOut(Schema):
    decision = String(required=True, attribute="word", validate=OneOf(["allow", "deny"]))
    reasons = List(String(), required=True, metadata={"description": "ids of deciding policies"})
    elapsed_ms = Float(required=True)


class DecisionQuery(Schema):
    action = String(validate=Length(max=32))
    decision = String(validate=OneOf(["allow", "deny"]))
    principal = String(validate=Length(max=128))
    source = String(validate=OneOf(["route", "api"]))
    since = DateTime()
    until = DateTime()
    limit = Integer(load_default=100, validate=Range(1, 1000))
    cursor = String(validate=Length(max=64))


class DecisionOut(Schema):
    id = Integer(required=True)
    at = DateTime(required=True)
    source = String(required=True)
    caller = String(required=True)
    principal_id = String(required=True)
    principal_role = String(required=True)
    principal_tenant = String(allow_none=True)
    action = String(required=True)
    resource_type = String(required=True)
    resource_id = String(required=True)
    resource_tenant = String(allow_none=True)
    decision = String(required=True)
    reasons = List(String(), required=True)
    elapsed_ms = Float(required=True)


class DecisionPage(Schema):
    decisions = List(Nested(DecisionOut), required=True)
    next_cursor = String(allow_none=True, required=True)


class CountsQuery(Schema):
    since = DateTime(metadata={"description": "default: an hour ago"})
    until = DateTime(metadata={"description": "default: now"})


class DecisionCountOut(Schema):
    minute = DateTime(required=True)
    action = String(required=True)
    principal_role = String(required=True)
    decision = String(required=True)
    count = Integer(required=True)


class DecisionCountsOut(Schema):
    counts = List(Nested(DecisionCountOut), required=True)
