"""Opening a case from the desk: the same case service as `/case open`, the same checks, and the
channel then set up by reference alone, as after the Slack form."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from bot.db import Database
from bot.settings import Settings
from desk import person as person_fields
from flows import case_channel
from flows.rules import reminder_rules
from models import Risk, SetupState
from services import areas, cases, identity, inputs, reviews, sharing_gate
from services.errors import CasehubError

log = logging.getLogger("casehub.desk")


@dataclass
class Entered:
    """What the form holds, as typed: shown again, whole, when something must change."""

    token: str  # the form's own id: sent twice, it opens one case
    lead: str
    summary: str = ""
    risk: str = Risk.MODERATE.value
    agencies: list[str] = field(default_factory=list)
    agency_reference: str = ""
    review_weeks: str = "4"
    confirmed: frozenset[str] = frozenset()
    area: str = ""  # chosen only by someone coordinating in several areas
    person: dict[str, str] = field(default_factory=lambda: person_fields.as_typed(None))

    @classmethod
    def empty(cls, user: str, *, token: str) -> Entered:
        return cls(token=token, lead=user)

    @classmethod
    def from_form(cls, form: MultiDict[str, str]) -> Entered:
        return cls(
            token=form.get("token", "")[:64],
            lead=form.get("lead", ""),
            summary=form.get("summary", ""),
            risk=form.get("risk", Risk.MODERATE.value),
            agencies=form.getlist("agencies"),
            agency_reference=form.get("agency_reference", ""),
            review_weeks=form.get("review_weeks", "4"),
            confirmed=frozenset(form.getlist("confirmed")),
            area=form.get("area", "")[:32],
            person=person_fields.typed(form),
        )


@dataclass(frozen=True)
class Finding:
    key: str
    label: str
    excerpt: str
    field: str


class Refused(Exception):
    """What to change, on which field; identifier findings a coordinator may confirm, listed."""

    def __init__(self, message: str, *, on: str | None = None, findings: list[Finding] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = on
        self.findings = findings or []

    @property
    def confirmable(self) -> bool:
        return bool(self.findings)


@dataclass(frozen=True)
class Choices:
    agencies: list[tuple[str, str]]  # slug, name
    coordinators: list[str]
    risks: list[str]
    areas: list[tuple[str, str]]  # slug, name: shown when there is more than one


def choices(session: Session, user: str) -> Choices:
    """What the form offers this coordinator: their areas, and those areas' agencies and
    coordinators (the service checks the pairing on submission)."""
    mine = areas.coordinated_by(session, user)
    agency_rows = {a.slug: a.name for area in mine for a in areas.agencies_in(session, area.id)}
    coordinators = sorted({u for area in mine for u in areas.coordinators(session, area.id)})
    return Choices(
        agencies=sorted(agency_rows.items()),
        coordinators=coordinators,
        risks=[r.value for r in Risk],
        areas=[(a.slug, a.name) for a in mine],
    )


def draft_of(entered: Entered) -> cases.CaseDraft:
    try:
        if not entered.token:
            raise Refused("This form is incomplete: open it again from the desk.")
        weeks = cases.parse_review_weeks(entered.review_weeks, field="review_weeks")
        return cases.CaseDraft(
            summary=inputs.text(entered.summary, field="summary"),
            risk=inputs.parse_choice(Risk, entered.risk, field="risk", what="a risk level"),
            lead_user_id=entered.lead,
            agency_slugs=tuple(entered.agencies),
            agency_reference=entered.agency_reference.strip() or None,
            review_every_weeks=weeks,
            confirmed=entered.confirmed,
            area_slug=entered.area or None,
        )
    except CasehubError as error:
        raise Refused(_plain(error), on=error.field) from None


def open_case(db: Database, client: WebClient, settings: Settings, user: str, entered: Entered) -> str:
    """The case recorded (once per form) and its channel set up; its reference."""
    draft = draft_of(entered)
    request_ref = f"desk:intake:{entered.token}"
    try:
        person = identity.check(person_fields.read(entered.person))
        cases.check_draft(draft)
        with db.session() as session:
            case, created = cases.open_case(
                session, draft=draft, opener=user, opened_via=request_ref, request_ref=request_ref
            )
            if created:
                reviews.schedule_first(case, reminder_rules(settings, session))
                if not person_fields.is_empty(person):  # in the same transaction as the case
                    identity.save_identity(session, case, person, user, request_ref)
            reference, case_id = case.reference, case.id
            unfinished = case.setup_state is SetupState.PENDING
    except sharing_gate.IdentifierFound as found:
        confirmable = all(f.overridable for f in found.findings)
        listed = [Finding(sharing_gate.key(f), f.label, f.excerpt, f.field) for f in found.findings]
        raise Refused(_plain(found), on=found.field, findings=listed if confirmable else []) from None
    except CasehubError as error:
        raise Refused(_plain(error), on=error.field) from None
    if created or unfinished:
        try:
            bot_user_id = str(client.auth_test()["user_id"])
            case_channel.set_up_and_report(
                db,
                client,
                case_id=case_id,
                prefix=settings.case_channel_prefix,
                user=user,
                request_ref=request_ref,
                bot_user_id=bot_user_id,
            )
        except SlackApiError as error:  # recorded; the lead has the retry in Slack, the desk shows it
            log.warning("desk: a case's channel was not set up: %s", error.response.get("error"))
    return reference


def _plain(error: CasehubError) -> str:
    """A refusal written for Slack (mrkdwn), on a web page."""
    text = error.message + (f" {error.hint}" if error.hint else "")
    return text.replace("`", "")
