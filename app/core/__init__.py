"""What every domain stands on: the database and tenancy, errors, batch writers,
leases, logs and metrics. Imports no Flask, no click and no domain package."""
