from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base
from models.clock import utcnow
from models.encryption import EncryptedText


class CaseHold(Base):
    """A legal hold on a case: placed and released by a data protection officer, with reasons.
    A case is held while it has a hold not yet released; its history stays."""

    __tablename__ = "case_holds"
    __table_args__ = (  # at most one hold in force per case
        Index(
            "uq_case_holds_in_force",
            "case_id",
            unique=True,
            sqlite_where=text("lifted_at IS NULL"),
            postgresql_where=text("lifted_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    placed_at: Mapped[datetime] = mapped_column(default=utcnow)
    placed_by: Mapped[str] = mapped_column(String(32))
    # Why, in the officer's words: it may tell of a claim or a request about the person.
    reason: Mapped[str] = mapped_column(EncryptedText("case_holds.reason"))
    lifted_at: Mapped[datetime | None]
    lifted_by: Mapped[str | None] = mapped_column(String(32))
    lift_reason: Mapped[str | None] = mapped_column(EncryptedText("case_holds.lift_reason"))
