"""Areas: the local partnerships of one deployment, and who oversees them.

An area (a departmental cell in France, a local authority's Channel panel in England) has its
own coordinators, agencies, hub channel and calendar. Its coordinators are the people with the
coordinator role in an agency taking part in it: who does what stays a matter of job roles in
the agency registry. What an area leaves unset (time zone, working days, channel prefix, review
cadence, bank holidays) falls back to the deployment's settings.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.agency import Agency
from models.base import Base
from models.clock import utcnow

# The oversight scope of a national coordinator: every area, whatever its region.
NATIONAL = "*"


class Area(Base):
    __tablename__ = "areas"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    # The region it belongs to, for regional coordinators (a French région, an English region).
    region: Mapped[str | None] = mapped_column(String(32), index=True)
    channel_prefix: Mapped[str | None] = mapped_column(String(41))
    timezone: Mapped[str | None] = mapped_column(String(64))
    # Bank holidays: a country code of the `holidays` package, with a subdivision after a dash
    # (GB-ENG, GB-SCT, FR, FR-57); none when unset.
    holidays: Mapped[str | None] = mapped_column(String(16))
    # mon,tue,wed,thu,fri — unset: WORKING_DAYS.
    working_days: Mapped[str | None] = mapped_column(String(27))
    review_every_weeks: Mapped[int | None]
    # Where the hub hears of new referrals and transfer offers: a channel it chose (its ID).
    hub_channel_id: Mapped[str | None] = mapped_column(String(32))
    # Service levels, in the area's working days.
    referral_ack_days: Mapped[int] = mapped_column(default=1, server_default="1")
    referral_decision_days: Mapped[int] = mapped_column(default=5, server_default="5")
    transfer_days: Mapped[int] = mapped_column(default=5, server_default="5")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    participations: Mapped[list[AreaAgency]] = relationship(
        back_populates="area", cascade="all, delete-orphan", order_by="AreaAgency.id"
    )

    @property
    def agencies(self) -> list[Agency]:
        return [p.agency for p in self.participations]


class AreaAgency(Base):
    """An agency taking part in an area; an agency may take part in several."""

    __tablename__ = "area_agencies"
    __table_args__ = (UniqueConstraint("area_id", "agency_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id"), index=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)

    area: Mapped[Area] = relationship(back_populates="participations")
    agency: Mapped[Agency] = relationship(lazy="joined")


class Overseer(Base):
    """A regional or national coordinator: sees the figures and the case references of the
    areas of a region (or of every area), never a case's content."""

    __tablename__ = "overseers"
    __table_args__ = (UniqueConstraint("user_id", "scope"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32), index=True)
    # A region's name, or NATIONAL.
    scope: Mapped[str] = mapped_column(String(32))
    added_by: Mapped[str] = mapped_column(String(32))
    added_at: Mapped[datetime] = mapped_column(default=utcnow)
