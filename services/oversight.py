"""What regional and national coordinators see: each area's figures, and its cases by reference
only. Never a case's content: no summary, no update, no person, no agency's note."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Action, ActionStatus, Area, Case, Stage, utcnow
from services import areas, referrals
from services.errors import NotAllowed

OPEN_STAGES = [s for s in Stage if s is not Stage.CLOSED]


@dataclass
class AreaFigures:
    area: Area
    by_stage: dict[Stage, int] = field(default_factory=dict)
    opened_last_30_days: int = 0
    closed_last_12_months: int = 0
    overdue_actions: int = 0
    # Filled in where referrals and transfers are counted (services.referrals, services.transfers).
    extra: dict[str, int] = field(default_factory=dict)

    @property
    def open_cases(self) -> int:
        return sum(self.by_stage.values())


def visible_areas(session: Session, user: str) -> list[Area]:
    """The areas whose figures a person sees: those they oversee and those they coordinate."""
    seen = {a.id: a for a in areas.overseen(session, user)}
    seen.update({a.id: a for a in areas.coordinated_by(session, user)})
    return sorted(seen.values(), key=lambda a: a.slug)


def nothing_to_oversee() -> NotAllowed:
    return NotAllowed(
        "You neither oversee nor coordinate an area.",
        hint="Regional and national coordinators are named by an admin with `/area overseer add`.",
    )


def require_sees(session: Session, user: str, area: Area) -> None:
    if area.id not in {a.id for a in visible_areas(session, user)}:
        raise NotAllowed(
            f"You do not oversee or coordinate `{area.slug}`.",
            hint="Regional and national coordinators are named by an admin with `/area overseer add`.",
        )


def figures(session: Session, shown: list[Area], *, now: datetime | None = None) -> list[AreaFigures]:
    """Each area's figures, in a few grouped queries whatever the number of areas or cases."""
    now = now or utcnow()
    out = {area.id: AreaFigures(area) for area in shown}
    ids = list(out)
    if not ids:
        return []
    for area_id, stage, count in session.execute(
        select(Case.area_id, Case.stage, func.count())
        .where(Case.area_id.in_(ids), Case.stage != Stage.CLOSED)
        .group_by(Case.area_id, Case.stage)
    ):
        out[area_id].by_stage[stage] = count
    for area_id, count in session.execute(
        select(Case.area_id, func.count())
        .where(Case.area_id.in_(ids), Case.opened_at >= now - timedelta(days=30))
        .group_by(Case.area_id)
    ):
        out[area_id].opened_last_30_days = count
    for area_id, count in session.execute(
        select(Case.area_id, func.count())
        .where(Case.area_id.in_(ids), Case.closed_at >= now - timedelta(days=365))
        .group_by(Case.area_id)
    ):
        out[area_id].closed_last_12_months = count
    today = now.date()
    for area_id, count in session.execute(
        select(Case.area_id, func.count())
        .join(Action, Action.case_id == Case.id)
        .where(
            Case.area_id.in_(ids),
            Case.stage != Stage.CLOSED,
            Action.status == ActionStatus.OPEN,
            Action.due < today,
        )
        .group_by(Case.area_id)
    ):
        out[area_id].overdue_actions = count
    referrals.add_figures(session, list(out.values()), now)
    return [out[area.id] for area in shown]


@dataclass(frozen=True)
class CaseReference:
    """A case as an overseer sees it: its reference, stage and when it was opened."""

    case_id: int
    reference: str
    stage: Stage
    opened_on: date


def case_references(session: Session, area: Area, *, limit: int = 500) -> list[CaseReference]:
    rows = session.execute(
        select(Case.id, Case.reference, Case.stage, Case.opened_at)
        .where(Case.area_id == area.id, Case.stage != Stage.CLOSED)
        .order_by(Case.opened_at)
        .limit(limit)
    )
    return [CaseReference(i, ref, stage, opened.date()) for i, ref, stage, opened in rows]


def totals(rows: list[AreaFigures]) -> AreaFigures:
    """The sum of several areas' figures (a region's, the nation's)."""
    total = AreaFigures(Area(slug="total", name="Total"))
    stages: dict[Stage, int] = defaultdict(int)
    for row in rows:
        for stage, count in row.by_stage.items():
            stages[stage] += count
        total.opened_last_30_days += row.opened_last_30_days
        total.closed_last_12_months += row.closed_last_12_months
        total.overdue_actions += row.overdue_actions
        for key, count in row.extra.items():
            total.extra[key] = total.extra.get(key, 0) + count
    total.by_stage = dict(stages)
    return total
