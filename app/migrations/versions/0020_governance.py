"""Governance: retention, legal holds, exports, and the append-only audit log.

Revision ID: 0020
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.core.db import JSONType, UTCDateTime

revision = "0020"
down_revision = "0001"
branch_labels = ("governance",)
depends_on = None

APPEND_ONLY = ("audit_entries", "audit_checkpoints")


def _tenant(table: str, *, cascade: bool = True, primary_key: bool = False) -> sa.Column[int]:
    return sa.Column(
        "tenant_id",
        sa.Integer(),
        sa.ForeignKey(
            "tenants.id",
            ondelete="CASCADE" if cascade else None,
            name=f"fk_{table}_tenant_id_tenants",
        ),
        primary_key=primary_key,
        nullable=False,
    )


def upgrade() -> None:
    _retention()
    _holds()
    _exports()
    _audit()
    _append_only_triggers()


def _retention() -> None:
    op.create_table(
        "retention_policies",
        sa.Column("id", sa.Integer(), primary_key=True),
        _tenant("retention_policies"),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(128), nullable=False),
        sa.Column("purge_holder", sa.String(128), nullable=True),
        sa.Column("purge_claimed_until", UTCDateTime(), nullable=True),
    )
    op.create_index(
        "uq_retention_policies_tenant_id", "retention_policies", ["tenant_id"], unique=True
    )
    op.create_table(
        "retention_changes",
        sa.Column("id", sa.Integer(), primary_key=True),
        _tenant("retention_changes"),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("changed_by", sa.String(128), nullable=False),
        sa.Column("old_days", sa.Integer(), nullable=False),
        sa.Column("new_days", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
    )
    op.create_index("ix_retention_changes_tenant_at", "retention_changes", ["tenant_id", "at"])


def _holds() -> None:
    op.create_table(
        "legal_holds",
        sa.Column("id", sa.String(36), primary_key=True),
        _tenant("legal_holds"),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("case_id", sa.String(128), nullable=True),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("released_at", UTCDateTime(), nullable=True),
        sa.Column("released_by", sa.String(128), nullable=True),
        sa.Column("release_reason", sa.Text(), nullable=True),
    )
    op.create_index("ix_legal_holds_tenant_released", "legal_holds", ["tenant_id", "released_at"])
    op.create_table(
        "hold_entities",
        sa.Column(
            "hold_id",
            sa.String(36),
            sa.ForeignKey(
                "legal_holds.id", ondelete="CASCADE", name="fk_hold_entities_hold_id_legal_holds"
            ),
            primary_key=True,
        ),
        sa.Column("entity_id", sa.String(36), primary_key=True),
        _tenant("hold_entities"),
    )
    op.create_index("ix_hold_entities_tenant_entity", "hold_entities", ["tenant_id", "entity_id"])


def _exports() -> None:
    op.create_table(
        "exports",
        sa.Column("id", sa.String(36), primary_key=True),
        _tenant("exports"),
        sa.Column("subject", sa.String(256), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.String(128), nullable=False),
        sa.Column("requested_at", UTCDateTime(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("records", sa.Integer(), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
    )
    op.create_index("ix_exports_tenant_requested", "exports", ["tenant_id", "requested_at"])


def _audit() -> None:
    op.create_table(
        "audit_entries",
        sa.Column("id", sa.Integer(), primary_key=True),
        _tenant("audit_entries", cascade=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(256), nullable=False),
        sa.Column("payload_sha256", sa.String(64), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index(
        "uq_audit_entries_tenant_seq", "audit_entries", ["tenant_id", "seq"], unique=True
    )
    op.create_index("ix_audit_entries_tenant_at", "audit_entries", ["tenant_id", "at"])
    op.create_index("ix_audit_entries_tenant_target", "audit_entries", ["tenant_id", "target"])
    op.create_table(
        "audit_payloads",
        sa.Column(
            "entry_id",
            sa.Integer(),
            sa.ForeignKey("audit_entries.id", name="fk_audit_payloads_entry_id_audit_entries"),
            primary_key=True,
        ),
        _tenant("audit_payloads", cascade=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("payload", JSONType, nullable=False),
    )
    op.create_index("ix_audit_payloads_tenant_id", "audit_payloads", ["tenant_id"])
    op.create_table(
        "audit_heads",
        _tenant("audit_heads", cascade=False, primary_key=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.Integer(), primary_key=True),
        _tenant("audit_checkpoints", cascade=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
    )
    op.create_index("ix_audit_checkpoints_tenant_seq", "audit_checkpoints", ["tenant_id", "seq"])
    op.create_table(
        "audit_verifications",
        _tenant("audit_verifications", primary_key=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("checked", sa.BigInteger(), nullable=False),
        sa.Column("first_bad_seq", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
    )


def _append_only_triggers() -> None:
    """The database itself refuses to change or remove an audit entry or a
    checkpoint, whoever asks (the application has no code path that would)."""
    if op.get_bind().dialect.name == "sqlite":
        for table in APPEND_ONLY:
            for verb in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
                )
        return
    op.execute(
        "CREATE FUNCTION summit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME "
        "USING ERRCODE = 'insufficient_privilege'; END $$"
    )
    for table in APPEND_ONLY:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION summit_append_only()"
        )


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table in APPEND_ONLY:
        if sqlite:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    if not sqlite:
        op.execute("DROP FUNCTION IF EXISTS summit_append_only()")
    for table in (
        "audit_verifications", "audit_checkpoints", "audit_heads", "audit_payloads",
        "audit_entries", "exports", "hold_entities", "legal_holds", "retention_changes",
        "retention_policies",
    ):  # fmt: skip
        op.drop_table(table)
