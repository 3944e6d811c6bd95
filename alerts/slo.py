"""SLO specs in Sloth's ``prometheus/v1`` format: loaded, checked, made into SLOs.

A spec a Sloth user already has works unchanged: the same fields mean the same
thing (service and SLO labels merged, ``alerting`` labels and annotations
merged with the page and ticket alert's own, ``disable`` drops an alert), and
keys Sloth would ignore are ignored here too, with a warning. On top of
``{{.window}}``, Summit's own specs name metrics symbolically,
``{{.metrics.HTTP_REQUESTS.total}}``, so every metric name comes from
``app.core.metrics`` and is never typed twice.

Every problem is reported at once, each naming its file and SLO.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from app.core import metrics

VERSION = "prometheus/v1"
SERIES = ("family", "total", "bucket", "count", "sum")
_TEMPLATE = re.compile(r"{{-?\s*(.*?)\s*-?}}")
_METRIC_VAR = re.compile(r"\.metrics\.([A-Z][A-Z0-9_]*)\.([a-z]+)")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_BUCKET_SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*_bucket)\s*{([^}]*)}")
_LE = re.compile(r"\ble\s*=\s*\"([^\"]*)\"")

KNOWN_KEYS: dict[str, frozenset[str]] = {
    "spec": frozenset({"version", "service", "labels", "slos"}),
    "slo": frozenset({"name", "objective", "description", "labels", "sli", "alerting"}),
    "sli": frozenset({"events", "raw"}),
    "alerting": frozenset({"name", "labels", "annotations", "page_alert", "ticket_alert"}),
    "alert": frozenset({"disable", "labels", "annotations"}),
}


class SpecError(ValueError):
    """One or more specs are invalid; ``problems`` lists each, naming file and SLO."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid SLO specs:\n  " + "\n  ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class AlertMeta:
    """One generated alert (page or ticket): Sloth's merged name, labels, annotations."""

    name: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]


@dataclass(frozen=True)
class SLO:
    """One SLO, its queries still holding ``{{.window}}`` (metric names resolved)."""

    service: str
    name: str
    objective: float  # percent, in (0, 100]
    description: str
    labels: Mapping[str, str]  # the service's labels, then the SLO's
    source: str  # the spec file, for messages
    error_query: str | None = None
    total_query: str | None = None
    error_ratio_query: str | None = None
    page: AlertMeta | None = None
    ticket: AlertMeta | None = None

    @property
    def id(self) -> str:
        return f"{self.service}-{self.name}"

    @property
    def error_budget(self) -> float:
        """The allowed error ratio, as Sloth computes it: (100 - objective) / 100."""
        return (100 - self.objective) / 100

    @property
    def id_labels(self) -> dict[str, str]:
        return {"sloth_id": self.id, "sloth_service": self.service, "sloth_slo": self.name}


@dataclass
class _Context:
    """Where we are in a spec, so each problem names its file and SLO."""

    path: Path
    problems: list[str]
    warnings: list[str]
    slo: str | None = None
    where: list[str] = field(default_factory=list)

    def problem(self, text: str) -> None:
        self.problems.append(self._prefix() + text)

    def warn(self, text: str) -> None:
        self.warnings.append(self._prefix() + text)

    def _prefix(self) -> str:
        return f"{self.path}: " + (f"SLO {self.slo!r}: " if self.slo is not None else "")


@dataclass(frozen=True)
class Loaded:
    slos: list[SLO]
    warnings: list[str]


def load_dir(directory: Path) -> Loaded:
    """Every ``*.yaml``/``*.yml`` spec in ``directory``, in name order."""
    files = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    if not files:
        raise SpecError([f"{directory}: no *.yaml SLO specs found"])
    return load_files(files)


def load_files(paths: Iterable[Path]) -> Loaded:
    problems: list[str] = []
    warnings: list[str] = []
    slos: list[SLO] = []
    for path in paths:
        ctx = _Context(path, problems, warnings)
        slos.extend(_load_file(ctx))
    _check_duplicates(slos, problems)
    if problems:
        raise SpecError(problems)
    return Loaded(slos, warnings)


def _load_file(ctx: _Context) -> list[SLO]:
    try:
        document = yaml.safe_load(ctx.path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        ctx.problem(f"cannot read the spec: {exc}")
        return []
    if not isinstance(document, dict):
        ctx.problem("the spec must be a mapping with version, service and slos")
        return []
    _unknown_keys(ctx, document, "spec", "")
    if document.get("version") != VERSION:
        ctx.problem(f"version must be {VERSION!r}, got {document.get('version')!r}")
    service = document.get("service")
    if not isinstance(service, str) or not service:
        ctx.problem("service is missing")
        service = "?"
    labels = _labels(ctx, document.get("labels"), "labels")
    slos = document.get("slos")
    if not isinstance(slos, list) or not slos:
        ctx.problem("slos must list at least one SLO")
        return []
    return [slo for raw in slos if (slo := _load_slo(ctx, service, labels, raw)) is not None]


def _load_slo(ctx: _Context, service: str, labels: dict[str, str], raw: Any) -> SLO | None:
    ctx.slo = None
    if not isinstance(raw, dict):
        ctx.problem("each entry of slos must be a mapping")
        return None
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        ctx.problem("an SLO has no name")
        return None
    ctx.slo = name
    _unknown_keys(ctx, raw, "slo", "")
    before = len(ctx.problems)
    objective = _objective(ctx, raw)
    queries = _sli(ctx, raw.get("sli"))
    slo_labels = {**labels, **_labels(ctx, raw.get("labels"), "labels")}
    page, ticket = _alerting(ctx, raw.get("alerting"))
    description = raw.get("description") or ""
    if not isinstance(description, str):
        ctx.problem("description must be text")
    if len(ctx.problems) > before:
        return None
    return SLO(
        service=service,
        name=name,
        objective=objective,
        description=str(description),
        labels=slo_labels,
        source=str(ctx.path),
        page=page,
        ticket=ticket,
        **queries,
    )


def _objective(ctx: _Context, raw: dict[str, Any]) -> float:
    if "objective" not in raw or raw["objective"] is None:
        ctx.problem("objective is missing")
        return math.nan
    value = raw["objective"]
    if isinstance(value, bool) or not isinstance(value, int | float):
        ctx.problem(f"objective must be a number, got {value!r}")
        return math.nan
    if not 0 < value <= 100:
        ctx.problem(f"objective {value} is outside (0, 100]")
    return float(value)


def _sli(ctx: _Context, sli: Any) -> dict[str, str]:
    if not isinstance(sli, dict):
        ctx.problem("sli is missing: give sli.events or sli.raw")
        return {}
    if "plugin" in sli:
        ctx.problem("sli.plugin is not supported (Sloth plugins are Go code): use events or raw")
        return {}
    _unknown_keys(ctx, sli, "sli", "sli.")
    kinds = [kind for kind in ("events", "raw") if sli.get(kind) is not None]
    if len(kinds) != 1:
        ctx.problem("sli must have exactly one of events or raw")
        return {}
    if kinds == ["events"]:
        wanted = {"error_query": "sli.events.error_query", "total_query": "sli.events.total_query"}
        body = sli["events"]
    else:
        wanted = {"error_ratio_query": "sli.raw.error_ratio_query"}
        body = sli["raw"]
    if not isinstance(body, dict):
        ctx.problem(f"sli.{kinds[0]} must be a mapping")
        return {}
    queries = {}
    for key, where in wanted.items():
        query = _query(ctx, body.get(key), where)
        if query is not None:
            queries[key] = query
    return queries


def _query(ctx: _Context, text: Any, where: str) -> str | None:
    if not isinstance(text, str) or not text.strip():
        ctx.problem(f"{where} is missing")
        return None
    variables = _TEMPLATE.findall(text)
    if ".window" not in variables:
        ctx.problem(f"{where} has no {{{{.window}}}} placeholder")
    rendered = _TEMPLATE.sub(lambda m: _resolve(ctx, m.group(1), where), text)
    _check_buckets(ctx, rendered, where)
    return rendered.strip()


def _resolve(ctx: _Context, variable: str, where: str) -> str:
    """``.window`` stays for later; ``.metrics.NAME.series`` becomes the series name."""
    if variable == ".window":
        return "{{.window}}"
    match = _METRIC_VAR.fullmatch(variable)
    name = getattr(metrics, match.group(1), None) if match else None
    if match is None:
        ctx.problem(f"{where}: unknown template variable {{{{{variable}}}}}")
        return "?"
    if not isinstance(name, metrics.Name) or match.group(2) not in SERIES:
        ctx.problem(f"{where}: {{{{{variable}}}}} names no metric in app.core.metrics")
        return "?"
    return str(getattr(name, match.group(2)))


def _check_buckets(ctx: _Context, query: str, where: str) -> None:
    """A histogram SLI's ``le`` must be one of the histogram's bucket boundaries
    exactly as the exposition writes it, or the query silently matches nothing."""
    families = {name.bucket: bounds for name, bounds in metrics.HISTOGRAM_BUCKETS.items()}
    for series, selector in _BUCKET_SELECTOR.findall(query):
        bounds = families.get(series)
        if bounds is None:
            continue  # not one of ours (a Sloth user's own histogram)
        written = [metrics_le(b) for b in bounds]
        for le in _LE.findall(selector):
            if le not in written:
                ctx.problem(
                    f'{where}: le="{le}" is not a bucket boundary of {series} '
                    f"(boundaries: {', '.join(written)})"
                )


def _alerting(ctx: _Context, alerting: Any) -> tuple[AlertMeta | None, AlertMeta | None]:
    if alerting is None:
        alerting = {}
    if not isinstance(alerting, dict):
        ctx.problem("alerting must be a mapping")
        return None, None
    _unknown_keys(ctx, alerting, "alerting", "alerting.")
    labels = _labels(ctx, alerting.get("labels"), "alerting.labels")
    annotations = _labels(ctx, alerting.get("annotations"), "alerting.annotations", values=False)
    metas: list[AlertMeta | None] = []
    named = _name(ctx, alerting)
    for kind in ("page_alert", "ticket_alert"):
        alert = alerting.get(kind) or {}
        if not isinstance(alert, dict):
            ctx.problem(f"alerting.{kind} must be a mapping")
            alert = {}
        _unknown_keys(ctx, alert, "alert", f"alerting.{kind}.")
        if alert.get("disable") is True:
            metas.append(None)
            continue
        own = _labels(ctx, alert.get("labels"), f"alerting.{kind}.labels")
        notes = _labels(ctx, alert.get("annotations"), f"alerting.{kind}.annotations", values=False)
        meta = AlertMeta(named, {**labels, **own}, {**annotations, **notes}) if named else None
        metas.append(meta)
    return metas[0], metas[1]


def _name(ctx: _Context, alerting: dict[str, Any]) -> str | None:
    """The alerts' name; required unless both alerts are disabled (as in Sloth)."""
    alerts = [alerting.get(k) for k in ("page_alert", "ticket_alert")]
    disabled = [isinstance(a, dict) and a.get("disable") is True for a in alerts]
    name = alerting.get("name")
    if all(disabled):
        return None
    if not isinstance(name, str) or not name:
        ctx.problem("alerting.name is missing (needed unless both alerts are disabled)")
        return None
    if not _METRIC_NAME.match(name):
        ctx.problem(f"alerting.name {name!r} is not a valid Prometheus alert name")
        return None
    return name


def _labels(ctx: _Context, raw: Any, where: str, *, values: bool = True) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        ctx.problem(f"{where} must be a mapping")
        return {}
    out = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not _LABEL_NAME.match(key) or key.startswith("__"):
            ctx.problem(f"{where}: {key!r} is not a valid label name")
        elif value is None or isinstance(value, dict | list):
            ctx.problem(f"{where}.{key} must be text")
        else:
            out[key] = _text(value) if values else str(value)
    return out


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _unknown_keys(ctx: _Context, raw: dict[str, Any], kind: str, where: str) -> None:
    for key in sorted(set(map(str, raw)) - KNOWN_KEYS[kind]):
        ctx.warn(f"{where}{key} is not a prometheus/v1 field; ignored (as Sloth ignores it)")


def _check_duplicates(slos: list[SLO], problems: list[str]) -> None:
    seen: dict[str, SLO] = {}
    for slo in slos:
        first = seen.setdefault(slo.id, slo)
        if first is not slo:
            problems.append(
                f"{slo.source}: SLO {slo.name!r}: duplicate name: service {slo.service!r} "
                f"already has an SLO {slo.name!r} (in {first.source})"
            )


def metrics_le(bound: float) -> str:
    """A bucket boundary as the exposition writes its ``le`` label (0.3, 1.0, 10.0)."""
    return repr(float(bound))


def render(query: str, window: str) -> str:
    """The query for one window (a Prometheus duration such as ``5m``)."""
    return query.replace("{{.window}}", window)
