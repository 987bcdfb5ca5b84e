from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base
from models.clock import utcnow


class AgencyKind(enum.StrEnum):
    POLICE = "police"
    EDUCATION = "education"
    SOCIAL_CARE = "social-care"
    HEALTH = "health"
    HOUSING = "housing"
    PROBATION = "probation"
    PRISON = "prison"
    YOUTH_WORK = "youth-work"
    NGO = "ngo"
    FAMILY_SUPPORT = "family-support"
    EMPLOYMENT = "employment"
    LOCAL_AUTHORITY = "local-authority"
    OTHER = "other"


class Role(enum.StrEnum):
    COORDINATOR = "coordinator"
    MEMBER = "member"
    OBSERVER = "observer"


def enum_column(enum_cls: type[enum.Enum], name: str) -> Enum:
    return Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda cls: [member.value for member in cls],
        validate_strings=True,
    )


class Agency(Base):
    __tablename__ = "agencies"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[AgencyKind] = mapped_column(enum_column(AgencyKind, "agency_kind"))
    timezone: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="agency", cascade="all, delete-orphan", order_by="Membership.user_id"
    )


class Membership(Base):
    """A Slack user's role in an agency: responsibilities belong to the role."""

    __tablename__ = "agency_memberships"
    __table_args__ = (UniqueConstraint("agency_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    user_id: Mapped[str] = mapped_column(String(32), index=True)
    role: Mapped[Role] = mapped_column(enum_column(Role, "membership_role"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    agency: Mapped[Agency] = relationship(back_populates="memberships")
