from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base
from models.clock import utcnow


class AccessRecord(Base):
    """A view of a case's content: who was shown what, when, through which request.

    Append-only (the migration installs triggers that refuse UPDATE and DELETE). One request
    showing one view of one case is one entry, however often its work is retried.
    """

    __tablename__ = "access_log"
    __table_args__ = (UniqueConstraint("request_ref", "case_id", "view"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    user_id: Mapped[str] = mapped_column(String(32), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    view: Mapped[str] = mapped_column(String(32))
    request_ref: Mapped[str] = mapped_column(String(200))
