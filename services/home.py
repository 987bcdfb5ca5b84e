"""What a person's App Home shows: gathered in a few queries, whatever the case load."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from models import Action, Agency, Case, Risk, Stage, clock
from services import actions, areas, cases, oversight, updates
from services.oversight import AreaFigures
from services.updates import AgencyPicture


@dataclass
class CaseRow:
    case: Case
    agencies: list[AgencyPicture]

    @property
    def silent(self) -> list[Agency]:
        return [state.agency for state in self.agencies if state.last_update is None]


@dataclass
class HomeData:
    user: str
    is_coordinator: bool
    led: list[CaseRow] = field(default_factory=list)
    overdue: list[Action] = field(default_factory=list)
    due_this_week: list[Action] = field(default_factory=list)
    member_actions: list[Action] = field(default_factory=list)
    references: dict[int, str] = field(default_factory=dict)
    # For a regional or national coordinator: their areas' figures (never a case's content).
    overseen: list[AreaFigures] = field(default_factory=list)

    def case_ids(self) -> list[int]:
        """Every case the Home shows something of."""
        actions = [*self.overdue, *self.due_this_week, *self.member_actions]
        return sorted({row.case.id for row in self.led} | {action.case_id for action in actions})

    def overdue_by_agency(self) -> dict[str, list[Action]]:
        grouped: dict[str, list[Action]] = defaultdict(list)
        for action in self.overdue:
            grouped[action.agency.name].append(action)
        return dict(sorted(grouped.items(), key=lambda item: -len(item[1])))


def gather(session: Session, user: str, *, today: date | None = None) -> HomeData:
    today = today or clock.today()
    data = HomeData(user=user, is_coordinator=areas.is_coordinator(session, user))
    if data.is_coordinator:
        led = list(
            session.scalars(
                select(Case)
                .where(Case.lead_user_id == user, Case.stage != Stage.CLOSED)
                .options(selectinload(Case.participations))
                .order_by(Case.opened_at)
            )
        )
        states = updates.pictures(session, led)
        data.led = [CaseRow(c, states[c.id]) for c in led]
        rank = {Risk.CRITICAL: 0, Risk.HIGH: 1, Risk.MODERATE: 2, Risk.LOW: 3}
        data.led.sort(key=lambda row: (rank[row.case.risk], row.case.reference))
        open_actions = actions.open_for_cases(session, [c.id for c in led])
        data.overdue = [a for a in open_actions if a.due < today]
        data.due_this_week = [a for a in open_actions if today <= a.due <= actions.week_end(today)]
        data.references.update({c.id: c.reference for c in led})
    data.member_actions = actions.agency_open_actions(session, user)
    overseen = areas.overseen(session, user)
    if overseen:
        data.overseen = oversight.figures(session, overseen)
    missing = {a.case_id for a in data.member_actions} - set(data.references)
    if missing:
        data.references.update(cases.references(session, missing))
    return data
