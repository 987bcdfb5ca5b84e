"""A crisis in Slack (and by e-mail): the banner, the pages, acknowledgements, escalation.

Pages go through the notice outbox with no working hours: each is recorded under its
key before it is sent, so a restart mid-crisis neither loses nor repeats one.
"""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass
from datetime import datetime

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.orm import Session

from blocks import crisis as crisis_blocks
from bot import mail
from bot.db import Database
from bot.settings import Settings
from bot.slack import describe_error
from flows import notify
from flows.rules import crisis_rules
from models import Agency, Case, Crisis, Disclosure, Notice, Page
from services import cases, crises, deliveries, oncall, outbox, sharing
from services.reminders import Due

log = logging.getLogger(__name__)


def page_dues(
    session: Session, crisis: Crisis, case: Case, new_pages: list[Page], notice: str, *, basis: str
) -> list[Due]:
    """The page messages, recorded for sending, each recorded in the sharing log with what it carries.

    Whether someone works on the case is the database's word (the lead, or a member of a
    participating agency), not the channel's member list, which Slack lets members change.
    """
    insiders = cases.entitled_users(session, case)
    dues = []
    for page in new_pages:
        agency = session.get(Agency, page.agency_id) if page.agency_id else None
        insider = page.user_id in insiders
        text, blocks = crisis_blocks.page_message(crisis, case, page, agency, notice, insider=insider)
        dues.append(Due(f"page:{page.key}", page.user_id, text, None, blocks=blocks))
        sharing.page_sent(session, case, crisis, page, with_summary=insider, basis=basis)
    return dues


@dataclass
class Raised:
    crisis_id: int
    created: bool


def raise_and_page(
    db: Database,
    client: WebClient,
    settings: Settings,
    *,
    case_id: int,
    summary: str,
    user: str,
    raised_via: str,
    request_ref: str,
    now: datetime,
    confirmed: frozenset[str] = frozenset(),
) -> Raised:
    with db.session() as session:
        case = session.get_one(Case, case_id)
        crisis, created = crises.raise_crisis(
            session,
            case=case,
            summary=summary,
            confirmed=confirmed,
            actor=user,
            raised_via=raised_via,
            request_ref=request_ref,
            now=now,
            rules=crisis_rules(settings, session),
        )
        if created:
            outbox.record(
                session,
                page_dues(
                    session,
                    crisis,
                    case,
                    crises.pages(session, crisis),
                    settings.emergency_notice,
                    basis=settings.sharing_basis(Disclosure.CRISIS_PAGE),
                ),
            )
        crisis_id = crisis.id
    # Pages go once however often this runs: a repeat sends what its first attempt did not.
    deliver(db, client, settings, crisis_id, now)
    refresh_banner(db, client, settings, crisis_id)
    return Raised(crisis_id, created)


def deliver(db: Database, client: WebClient, settings: Settings, crisis_id: int, now: datetime) -> None:
    """Send the crisis's pages not yet sent (pages ignore working hours), and their e-mail copies."""
    with db.reader() as session:
        keys = [f"page:{p.key}" for p in crises.pages(session, session.get_one(Crisis, crisis_id))]
    notify.send_ready(db, client, now, is_open=lambda _now, _tz: True, keys=keys)
    if settings.smtp_url is not None:
        email_copies(db, client, settings, crisis_id)


def email_copies(db: Database, client: WebClient, settings: Settings, crisis_id: int) -> None:
    """E-mail each page: no free text unless SMTP_INCLUDE_SUMMARY, and never to someone outside
    the case; each copy sent is recorded in the sharing log."""
    with db.reader() as session:
        crisis = session.get_one(Crisis, crisis_id)
        case = session.get_one(Case, crisis.case_id)
        insiders = cases.entitled_users(session, case)
        recipients = [(p.id, p.key, p.user_id, p.user_id in insiders) for p in crises.pages(session, crisis)]
        bodies = {
            insider: crisis_blocks.email_text(
                crisis,
                case,
                settings.emergency_notice,
                summary=settings.smtp_include_summary,
                insider=insider,
            )
            for insider in (True, False)
        }
        subject = f"casehub: crisis on case {case.reference}"
    for page_id, key, user, insider in recipients:
        try:
            address = client.users_info(user=user)["user"].get("profile", {}).get("email")
        except SlackApiError as error:
            log.warning("no e-mail address for %s: %s", user, describe_error(error))
            continue
        if not address:
            continue
        try:
            with db.session() as session:  # the claim and the record commit only if the mail went
                if not deliveries.claim(session, f"email:{key}"):
                    continue
                sharing.page_sent(
                    session,
                    session.get_one(Case, case.id),
                    session.get_one(Crisis, crisis_id),
                    session.get_one(Page, page_id),
                    with_summary=settings.smtp_include_summary and insider,
                    by_email=True,
                    basis=settings.sharing_basis(Disclosure.CRISIS_EMAIL),
                )
                mail.send(settings, address, subject, bodies[insider])
        except (OSError, smtplib.SMTPException) as error:
            log.warning("e-mail copy of page %s not sent: %s", key, type(error).__name__)


def refresh_banner(db: Database, client: WebClient, settings: Settings, crisis_id: int) -> None:
    """Post the banner once, then keep its status block current."""
    with db.reader() as session:
        crisis = session.get_one(Crisis, crisis_id)
        case = session.get_one(Case, crisis.case_id)
        paged = crises.pages(session, crisis)
        agencies = {a.id: a for a in case.agencies}
        agencies.update({p.agency_id: session.get_one(Agency, p.agency_id) for p in paged if p.agency_id})
        covered = {p.agency_id for p in paged}
        unreachable = [a.name for a in case.agencies if a.id not in covered]
        text, blocks = crisis_blocks.banner(
            crisis, case, paged, agencies, settings.emergency_notice, unreachable
        )
        channel, ts = case.channel(), crisis.banner_ts
    try:
        if ts is None:
            with db.session() as session:
                if not deliveries.claim(session, f"banner:{crisis_id}"):
                    return
                ts = client.chat_postMessage(channel=channel, text=text, blocks=blocks)["ts"]
                session.get_one(Crisis, crisis_id).banner_ts = ts
            try:
                client.pins_add(channel=channel, timestamp=ts)
            except SlackApiError as error:
                log.info("banner not pinned: %s", describe_error(error))
        else:
            client.chat_update(channel=channel, ts=ts, text=text[:3900], blocks=blocks)
    except SlackApiError as error:
        log.warning("crisis banner of %s not updated: %s", crisis_id, describe_error(error))


def acknowledge(
    db: Database,
    client: WebClient,
    settings: Settings,
    *,
    page_id: int,
    user: str,
    now: datetime,
    request_ref: str,
) -> None:
    with db.session() as session:
        page = crises.page_by_id(session, page_id)
        if not deliveries.claim(session, request_ref):
            return  # the same click, delivered again
        crisis = crises.acknowledge(session, page=page, user=user, now=now, request_ref=request_ref)
        case = session.get_one(Case, crisis.case_id)
        crisis_id, blocks = crisis.id, crisis_blocks.acknowledged(case, page)
        notice = session.get(Notice, f"page:{page.key}")
        where = (notice.channel, notice.ts) if notice is not None else (None, None)
    refresh_banner(db, client, settings, crisis_id)
    if where[0] and where[1]:
        try:
            client.chat_update(channel=where[0], ts=where[1], text="Acknowledged.", blocks=blocks)
        except SlackApiError as error:
            log.info("page message not updated: %s", describe_error(error))


def escalate(db: Database, client: WebClient, settings: Settings, now: datetime) -> int:
    """The sweep's crisis part: escalate unanswered pages, hand over overnight crises."""
    with db.session() as session:
        rules = crisis_rules(settings, session)
        new_pages, dues, touched = crises.escalate_due(session, now, rules)
        for page in new_pages:
            crisis = session.get_one(Crisis, page.crisis_id)
            dues += page_dues(
                session,
                crisis,
                session.get_one(Case, crisis.case_id),
                [page],
                settings.emergency_notice,
                basis=settings.sharing_basis(Disclosure.CRISIS_PAGE),
            )
        for crisis, case, text in crises.handovers_due(session, now):
            dues.append(Due(f"crisis-handover:{crisis.id}:lead", case.lead_user_id, text, None))
            if case.channel_id:
                dues.append(
                    Due(
                        f"crisis-handover:{crisis.id}:channel",
                        case.lead_user_id,
                        text,
                        None,
                        channel=case.channel_id,
                    )
                )
        outbox.record(session, dues)
    # Crisis notices ignore working hours: they go now, not at the next working hour.
    notify.send_ready(db, client, now, is_open=lambda _now, _tz: True, keys=[d.key for d in dues])
    for crisis_id in touched:
        if settings.smtp_url is not None:
            email_copies(db, client, settings, crisis_id)
        refresh_banner(db, client, settings, crisis_id)
    return len(dues)


def who_lines(
    db: Database, settings: Settings, agencies: list[Agency], now: datetime
) -> list[tuple[str, str, str]]:
    out = []
    with db.reader() as session:
        for agency in agencies:
            current = oncall.on_call(session, agency, now, settings.default_timezone)
            upcoming = oncall.next_cover(session, agency, now, settings.default_timezone)
            now_text = f"<@{current.user}> ({current.source})" if current.user else "nobody"
            if current.until:
                now_text += f" until {current.until:%a %d %b %H:%M} UTC"
            next_text = f"<@{upcoming.user}>" if upcoming and upcoming.user else "no change planned"
            out.append((agency.name, now_text, next_text))
    return out
