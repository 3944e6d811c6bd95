"""Imports every module that defines tables, so Base.metadata is complete.

Alembic's env and the schema tests import this: each domain package keeps its
tables in its own ``models`` module.
"""

from alerts import models as alert_models  # noqa: F401
from app.alerting import models as alerting_models  # noqa: F401
from app.core import leases  # noqa: F401
from app.feedback import models as feedback_models  # noqa: F401
from app.graph import models as graph_models  # noqa: F401
from app.identity import models as identity_models  # noqa: F401
from app.ingest import models as ingest_models  # noqa: F401
from app.ops import models as ops_models  # noqa: F401
from app.policy import models as policy_models  # noqa: F401
from app.quotas import models as quota_models  # noqa: F401
from app.reports import models as report_models  # noqa: F401
from governance import models as governance_models  # noqa: F401
from probes import models as probe_models  # noqa: F401
