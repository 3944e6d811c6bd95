"""Report branding tables. Imports no Flask."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base
from app.core.tenancy import TenantOwned


class Branding(TenantOwned, Base):
    """A tenant's logo and footer, one row per tenant (none: unbranded reports).

    The logo is kept here, in the database, only as the PNG we re-encoded it to:
    never the uploaded bytes, never a path a user chose."""

    __tablename__ = "report_brandings"
    __table_args__ = (Index("uq_report_brandings_tenant_id", "tenant_id", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    footer: Mapped[str] = mapped_column(Text, default="")
    logo_png: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    logo_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    logo_width: Mapped[int | None] = mapped_column(Integer, default=None)
    logo_height: Mapped[int | None] = mapped_column(Integer, default=None)
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(128))
