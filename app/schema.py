"""Imports every module that defines tables, so Base.metadata is complete.

Alembic's env and the schema tests import this, not app.models alone: domain
packages (probes, alerts, governance) keep their tables beside their code.
"""

from alerts import models as alert_models  # noqa: F401
from app import (
    leases,  # noqa: F401
    models,  # noqa: F401
)
from app.policy import models as policy_models  # noqa: F401
from app.quotas import models as quota_models  # noqa: F401
from probes import models as probe_models  # noqa: F401

# Domain packages append their model modules here.
