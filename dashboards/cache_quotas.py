"""Cache and quotas: is the HOT query cache doing its job, and who is held back by
the rate limits and quotas, and how close is everyone to their limits?"""

from __future__ import annotations

from typing import Any

from app.core import metrics as m
from dashboards import promql as q
from dashboards.style import Query, bargauge, dashboard, link, row, stat, timeseries

UID = "summit-cache-quotas"
TITLE = "Summit / Cache and quotas"
HIT_RATE_BAR = 0.9  # the cache's bar: ≥ 90 % hits on a repeated-query workload
NEAR_LIMIT = [(None, "green"), (0.8, "orange"), (0.95, "red")]


def _hit_ratio(by: str) -> str:
    hits = q.sum_by(by, q.rate(m.CACHE_REQUESTS.total, 'result="hit"'))
    lookups = q.sum_by(by, q.rate(m.CACHE_REQUESTS.total))
    return q.ratio(hits, lookups)


def _cache() -> Any:
    return row(
        "HOT query cache",
        stat(
            "Hit rate now",
            description="Is the cache answering at least 90 % of lookups? Below the bar, "
            "reads fall through to the database and the read-path P95 rises.",
            unit="percentunit",
            queries=[Query(_hit_ratio("kind"), "{{kind}}", instant=True)],
            thresholds=[(None, "red"), (HIT_RATE_BAR, "green")],
            width=4,
            height=8,
        ),
        timeseries(
            "Hit rate by kind",
            description="When did the hit rate drop, and for searches or entity fetches? "
            "A drop right after writes is expected: a write invalidates its tenant's answers.",
            unit="percentunit",
            queries=[Query(_hit_ratio("kind"), "{{kind}}")],
            thresholds=[(None, "red"), (HIT_RATE_BAR, "green")],
            min=0,
            max=1,
            width=7,
        ),
        timeseries(
            "Lookups, evictions, answers too big",
            description="How hard is the cache working? Is it evicting answers for room "
            "before their TTL (SUMMIT_CACHE_MAX_BYTES too small for the load), or refusing "
            "answers bigger than SUMMIT_CACHE_MAX_ENTRY_BYTES?",
            unit="ops",
            queries=[
                Query(
                    q.sum_by("kind, result", q.rate(m.CACHE_REQUESTS.total)), "{{kind}} {{result}}"
                ),
                Query(f"sum({q.rate(m.CACHE_EVICTIONS.total)})", "evicted"),
                Query(f"sum({q.rate(m.CACHE_SKIPPED.total)})", "too big to cache"),
            ],
            width=8,
        ),
        stat(
            "Memory held",
            description="How many bytes does the process-memory cache hold, summed over "
            "workers? It is bounded per worker by SUMMIT_CACHE_MAX_BYTES.",
            unit="bytes",
            queries=[Query(f"sum({q.sel(m.CACHE_BYTES.family)})", "cache", instant=True)],
            width=5,
            height=8,
        ),
    )


def _rate_limits() -> Any:
    return row(
        "Rate limits",
        timeseries(
            "429s by tenant",
            description="Which tenants are being refused for going over their rate limit, "
            "and since when? Each 429 is also logged with the tenant and route.",
            unit="reqps",
            queries=[
                Query(q.sum_by("tenant", q.rate(m.RATE_LIMITED.total, q.TENANT)), "{{tenant}}")
            ],
            bars=True,
        ),
        timeseries(
            "429s by route",
            description="Which routes do the refused requests hit: one client looping on "
            "a route, or a tenant's whole traffic over budget?",
            unit="reqps",
            queries=[
                Query(
                    q.sum_by("tenant, route", q.rate(m.RATE_LIMITED.total, q.TENANT)),
                    "{{tenant}} {{route}}",
                ),
            ],
            bars=True,
        ),
    )


def _quota_use() -> Any:
    requests = q.sum_by("tenant", q.rate(m.HTTP_REQUESTS.total, q.TENANT, q.USER))
    qps = q.max_by("tenant", q.sel(m.TENANT_QUOTA.family, q.TENANT, 'resource="qps"'))
    stored = q.max_by("tenant", q.sel(m.TENANT_STORAGE.family, q.TENANT))
    quota = q.max_by("tenant", q.sel(m.TENANT_QUOTA.family, q.TENANT, 'resource="storage_bytes"'))
    return row(
        "Quota use",
        timeseries(
            "Request rate against the qps limit",
            description="How close is each tenant to its requests-per-second limit? At 100 % "
            "(plus its burst) it starts getting 429s; raise the limit on /admin/quotas.",
            unit="percentunit",
            queries=[Query(q.ratio(requests, qps, on="tenant"), "{{tenant}}")],
            thresholds=NEAR_LIMIT,
            min=0,
        ),
        bargauge(
            "Storage against the quota",
            description="How full is each tenant's storage quota? At 100 % its writes are "
            "refused with 409 storage_quota_exceeded.",
            unit="percentunit",
            queries=[Query(q.ratio(stored, quota, on="tenant"), "{{tenant}}", instant=True)],
            thresholds=NEAR_LIMIT,
            max=1,
        ),
        timeseries(
            "Storage used",
            description="How fast is each tenant's stored data growing (bytes counted "
            "against its storage quota)?",
            unit="bytes",
            queries=[Query(stored, "{{tenant}}")],
            width=6,
        ),
    )


def build(*, summit_url: str) -> dict[str, Any]:
    return dashboard(
        uid=UID,
        title=TITLE,
        description="The HOT query cache's hit rate and evictions; per-tenant 429s and "
        "how close each tenant is to its quotas.",
        tags=["summit", "cache", "quotas"],
        rows=[_cache(), _rate_limits(), _quota_use()],
        summit_url=summit_url,
        links=[link("Quotas admin", "/admin/quotas", "Change a tenant's limits")],
    )
