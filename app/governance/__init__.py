"""The governance adapters: HTTP API, page, CLI and scheduled jobs over the
``governance`` domain package."""
