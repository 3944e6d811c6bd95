"""Per-tenant quotas: request rate, concurrent jobs and storage; the cache
generation that invalidates the HOT query cache. Imports no Flask."""
