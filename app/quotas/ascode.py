"""Quotas as code: every tenant's limits from one versioned YAML file.

The file holds ``defaults`` (all four limits) and ``tenants`` (each tenant's
overrides of them). Every tenant of the database is governed by it: a tenant
the file does not name gets the defaults. :func:`load` checks the file (YAML,
then the schema, with the line of each problem); :func:`plan` says what
:func:`apply` would change, and where the database drifted from the last
apply (an operator's PATCH since); :func:`apply` makes the changes through
:func:`app.quotas.service.set_limits`, the function the operator's PATCH
calls, so each change is audited alike. Imports no Flask.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.identity.models import Tenant
from app.quotas import service
from app.quotas.models import QuotaChange, TenantQuota
from app.quotas.service import LIMIT_RANGES, Limits

SHIPPED = Path(__file__).resolve().parent / "quotas.yaml"
FIELDS = tuple(LIMIT_RANGES)


def _range(name: str) -> Any:
    low, high = LIMIT_RANGES[name]
    return Field(ge=low, le=high)


Qps = Annotated[int, _range("qps")]
Burst = Annotated[int, _range("burst")]
Jobs = Annotated[int, _range("concurrent_jobs")]
Bytes = Annotated[int, _range("storage_bytes")]


class _Defaults(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    qps: Qps
    burst: Burst
    concurrent_jobs: Jobs
    storage_bytes: Bytes


class _Overrides(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    qps: Qps | None = None
    burst: Burst | None = None
    concurrent_jobs: Jobs | None = None
    storage_bytes: Bytes | None = None


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    version: Literal[1]
    defaults: _Defaults
    # A tenant named with nothing under it (``acme:``) takes the defaults.
    tenants: dict[Annotated[str, Field(min_length=1, max_length=64)], _Overrides | None] = {}


@dataclass(frozen=True, slots=True)
class Problem:
    line: int | None
    path: str
    message: str


class QuotasFileError(ValueError):
    """The file is not a valid quotas file; ``problems`` says where and why."""

    def __init__(self, name: str, problems: list[Problem]) -> None:
        self.name = name
        self.problems = problems
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        return [
            f"{self.name}:{p.line or '?'}: {p.path + ': ' if p.path else ''}{p.message}"
            for p in self.problems
        ]


@dataclass(frozen=True, slots=True)
class QuotasFile:
    """A checked file: the limits it wants, and where each key was written."""

    name: str
    sha256: str
    defaults: Limits
    tenants: dict[str, dict[str, int]]
    lines: dict[tuple[Any, ...], int]

    def wanted(self, slug: str) -> Limits:
        return replace(self.defaults, **self.tenants.get(slug, {}))

    def reason(self, why: str = "") -> str:
        said = f"{service.APPLY_MARK}: {self.name} (sha256 {self.sha256[:12]})"
        return f"{said}: {why}" if why else said


def load(path: Path) -> QuotasFile:
    """Read and check a quotas file; QuotasFileError naming each problem's line."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise QuotasFileError(
            str(path), [Problem(None, "", f"cannot read: {exc.strerror}")]
        ) from None
    return parse(raw, name=str(path))


def parse(raw: bytes, *, name: str) -> QuotasFile:
    data, lines = _yaml(raw, name)
    try:
        checked = _File.model_validate(data)
    except ValidationError as exc:
        raise QuotasFileError(name, [_problem(e, lines) for e in exc.errors()]) from None
    return QuotasFile(
        name=name,
        sha256=hashlib.sha256(raw).hexdigest(),
        defaults=Limits(**checked.defaults.model_dump()),
        tenants={
            slug: (o.model_dump(exclude_none=True) if o else {})
            for slug, o in checked.tenants.items()
        },
        lines=lines,
    )


def _yaml(raw: bytes, name: str) -> tuple[Any, dict[tuple[Any, ...], int]]:
    """The document, and the line of every mapping key by its path."""
    loader = yaml.SafeLoader(raw)
    lines: dict[tuple[Any, ...], int] = {}
    try:
        node = loader.get_single_node()
        if node is None:
            raise QuotasFileError(name, [Problem(1, "", "empty file")])
        return _build(loader, node, (), lines, name), lines
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        what = getattr(exc, "problem", None) or str(exc)
        raise QuotasFileError(name, [Problem(line, "", f"not valid YAML: {what}")]) from None
    finally:
        loader.dispose()


def _build(
    loader: yaml.SafeLoader,
    node: yaml.Node,
    path: tuple[Any, ...],
    lines: dict[tuple[Any, ...], int],
    name: str,
) -> Any:
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        built: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in built:
                # PyYAML keeps the last silently: a limit written twice is a mistake.
                shown = ".".join(map(str, (*path, key)))
                raise QuotasFileError(name, [Problem(line, shown, "written twice")])
            lines[(*path, key)] = line
            built[key] = _build(loader, value_node, (*path, key), lines, name)
        return built
    if isinstance(node, yaml.SequenceNode):
        return [_build(loader, item, (*path, i), lines, name) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def _problem(error: Any, lines: dict[tuple[Any, ...], int]) -> Problem:
    loc = tuple(part for part in error["loc"] if part != "[key]")
    # A union (``_Overrides | None``) adds its member's name to the path: drop it.
    loc = tuple(part for part in loc if part not in ("_Overrides",))
    message = error["msg"]
    if not loc:
        return Problem(1, "", "the file must be a mapping of version, defaults and tenants")
    if error["type"] == "extra_forbidden":
        message = f"unknown field (known: {', '.join(_known(loc))})"
    elif error["type"] not in ("missing",) and "input" in error:
        message = f"{message} (got {error['input']!r})"
    line = None
    for end in range(len(loc), -1, -1):  # the key itself, or the nearest that was written
        if loc[:end] in lines:
            line = lines[loc[:end]]
            break
    return Problem(line, ".".join(map(str, loc)), message)


def _known(loc: tuple[Any, ...]) -> list[str]:
    if len(loc) == 1:
        return list(_File.model_fields)
    return list(FIELDS)


# --- plan and apply ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Change:
    field: str
    old: int
    new: int
    drifted: bool  # the database no longer holds what the last apply wrote


@dataclass(frozen=True, slots=True)
class TenantPlan:
    tenant: str
    tenant_id: int
    changes: list[Change]
    last_applied: dict[str, int] | None
    # The latest change since the last apply (an operator's PATCH), if any.
    changed_since: QuotaChange | None = None

    @property
    def drifted(self) -> bool:
        return any(c.drifted for c in self.changes)


@dataclass(frozen=True, slots=True)
class Plan:
    tenants: list[TenantPlan] = field(default_factory=list)

    @property
    def pending(self) -> list[TenantPlan]:
        return [t for t in self.tenants if t.changes]

    @property
    def drifted(self) -> list[TenantPlan]:
        return [t for t in self.tenants if t.drifted]


def plan(*, session: Session, wanted: QuotasFile, defaults: Limits) -> Plan:
    """What :func:`apply` would change, tenant by tenant and field by field.

    ``defaults`` are the limits of a tenant without a quota row (the settings').
    A tenant the file names that the database lacks is a QuotasFileError.
    """
    tenants = dict(session.execute(select(Tenant.slug, Tenant.id).order_by(Tenant.slug)).all())
    unknown = [slug for slug in wanted.tenants if slug not in tenants]
    if unknown:
        raise QuotasFileError(
            wanted.name,
            [
                Problem(wanted.lines.get(("tenants", s)), f"tenants.{s}",
                        f"no such tenant (known: {', '.join(tenants) or 'none'})")
                for s in unknown
            ],
        )  # fmt: skip
    return Plan(
        [_tenant_plan(session, slug, tid, wanted, defaults) for slug, tid in tenants.items()]
    )


def _tenant_plan(
    session: Session, slug: str, tenant_id: int, wanted: QuotasFile, defaults: Limits
) -> TenantPlan:
    current = asdict(service.limits_for(session=session, tenant_id=tenant_id, defaults=defaults))
    target = asdict(wanted.wanted(slug))
    latest = select(QuotaChange).where(QuotaChange.tenant_id == tenant_id)
    latest = latest.order_by(QuotaChange.id.desc()).limit(1)
    by_apply = QuotaChange.reason.startswith(service.APPLY_MARK)
    applied = session.scalars(latest.where(by_apply)).first()
    newest = session.scalars(latest).first()
    last = applied.new if applied is not None else None
    since = newest if applied is not None and newest is not applied else None
    changes = [
        Change(name, current[name], target[name],
               drifted=last is not None and current[name] != last.get(name))
        for name in FIELDS
        if current[name] != target[name]
    ]  # fmt: skip
    return TenantPlan(slug, tenant_id, changes, last, since)


def apply(
    *, session: Session, wanted: QuotasFile, defaults: Limits, actor: str, why: str, now: datetime
) -> Plan:
    """Make the database hold the file's limits, in the caller's transaction (all
    or nothing: the caller commits). Returns the plan it carried out; a second
    apply of the same file finds nothing to do. The caller then starts each
    changed tenant's rate bucket afresh, as the PATCH does."""
    # Lock the quota rows first, so an operator's PATCH in between cannot be lost
    # (SQLite's write transaction already holds the whole database).
    session.execute(select(TenantQuota.tenant_id).with_for_update()).all()
    carried = plan(session=session, wanted=wanted, defaults=defaults)
    for tenant in carried.pending:
        service.set_limits(
            session=session,
            tenant_slug=tenant.tenant,
            changes={c.field: c.new for c in tenant.changes},
            actor=actor,
            reason=wanted.reason(why),
            defaults=defaults,
            now=now,
        )
    return carried
