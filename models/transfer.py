"""Transfers: a case handed from one area to another by a handshake.

The sending lead offers the case with a reason; the receiving area's hub accepts or rejects it,
with a reason, before the deadline. The sending area stays responsible until it is accepted.
The states follow offered → accepted / rejected / revoked / expired.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from models.agency import enum_column
from models.base import Base
from models.clock import utcnow
from models.encryption import EncryptedText


class TransferState(enum.StrEnum):
    OFFERED = "offered"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    REVOKED = "revoked"  # withdrawn by the sending lead
    EXPIRED = "expired"  # the deadline passed with no answer


class Transfer(Base):
    __tablename__ = "transfers"
    __table_args__ = (
        # One open offer per case, whoever asks at the same moment.
        Index(
            "uq_transfers_open_offer",
            "case_id",
            unique=True,
            sqlite_where=text("state = 'offered'"),
            postgresql_where=text("state = 'offered'"),
        ),
        Index(
            "ix_transfers_open_nudge",
            "nudge_at",
            sqlite_where=text("state = 'offered'"),
            postgresql_where=text("state = 'offered'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    from_area_id: Mapped[int] = mapped_column(ForeignKey("areas.id"))
    to_area_id: Mapped[int] = mapped_column(ForeignKey("areas.id"), index=True)
    state: Mapped[TransferState] = mapped_column(
        enum_column(TransferState, "transfer_state"), default=TransferState.OFFERED
    )
    offered_by: Mapped[str] = mapped_column(String(32))
    offered_via: Mapped[str] = mapped_column(String(200), unique=True)
    offered_at: Mapped[datetime] = mapped_column(default=utcnow)
    reason: Mapped[str] = mapped_column(EncryptedText("transfers.reason"))
    # The end of the receiving area's last working day to answer, as a moment.
    deadline: Mapped[datetime]
    decided_by: Mapped[str | None] = mapped_column(String(32))
    decided_at: Mapped[datetime | None]
    decision_reason: Mapped[str | None] = mapped_column(EncryptedText("transfers.decision_reason"))
    # The receiving coordinator who leads the case once it is accepted.
    new_lead: Mapped[str | None] = mapped_column(String(32))
    # When the sweep next reminds either side, or marks the offer expired.
    nudge_at: Mapped[datetime | None]
    # Where the receiving hub's card about it was posted.
    hub_channel_id: Mapped[str | None] = mapped_column(String(32))
    hub_ts: Mapped[str | None] = mapped_column(String(32))
