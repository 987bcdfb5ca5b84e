"""A record of processing (GDPR Art. 30) written from casehub's configuration and registry.

What it says of purposes, recipients and safeguards is read from the settings and the database
at the moment it is written, so that it stays true as they change; what casehub cannot know
(the controller's name, the DPO's contact, Slack's data residency) is marked to complete.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Agency


@dataclass(frozen=True)
class Configuration:
    """What the record needs to know of the settings (bot.settings.Settings provides it)."""

    sharing_bases: dict[str, str]
    dpos: list[str]
    audit_key_ids: list[str]
    data_key_ids: list[str]
    checkpoint_file: str
    verify_time: str
    mail: bool
    mail_includes_summary: bool
    database: str  # "SQLite" or "PostgreSQL"
    outbox_days: int
    deliveries_days: int
    case_years: int = 6
    screened_out_months: int = 36
    warning_days: int = 30


TO_COMPLETE = "_(to complete)_"


def record_of_processing(session: Session, config: Configuration, *, today: date) -> str:
    kinds = Counter(agency.kind.value for agency in session.scalars(select(Agency)))
    agencies = (
        ", ".join(f"{kind} ({count})" for kind, count in sorted(kinds.items())) or "none registered yet"
    )
    bases = "\n".join(f"- `{key}`: {label}" for key, label in config.sharing_bases.items())
    keyed = (
        f"keyed (HMAC-SHA256, key ids {', '.join(config.audit_key_ids)})"
        if config.audit_key_ids
        else "**not keyed** (AUDIT_KEYS is not set: accidental changes are shown, deliberate ones are not)"
    )
    encrypted = (
        f"under data keys kept outside the database (DATA_KEYS, key ids {', '.join(config.data_key_ids)})"
        if config.data_key_ids
        else "**no data key is configured** (DATA_KEYS): casehub refuses to run without one"
    )
    dpos = ", ".join(f"Slack user {user}" for user in config.dpos) or "none configured (CASEHUB_DPOS)"
    mail = (
        "An e-mail server (SMTP_URL) receives a copy of every crisis page: the case reference, the "
        "emergency notice and where to look"
        + (", and the crisis summary (SMTP_INCLUDE_SUMMARY)." if config.mail_includes_summary else ".")
        if config.mail
        else "No e-mail copies (SMTP_URL is not set)."
    )
    return f"""# Record of processing activities: casehub

Written by `python -m bot privacy-notice` on {today.isoformat()} from casehub's configuration and
registry. Parts marked {TO_COMPLETE} are for the controller to fill in.

## Controller and data protection officer

- Controller: the partnership running this casehub {TO_COMPLETE}
- Data protection officers in casehub: {dpos}; contact {TO_COMPLETE}

## Purposes and lawful bases

casehub coordinates the multi-agency work that safeguards people at risk and prevents
radicalisation: a private channel per case with the agencies that need to know, structured
updates, actions, reviews and crisis alerts. Every disclosure is recorded in the sharing log
under one of these purposes and lawful bases (SHARING_BASES):

{bases}

## Categories of data subjects and of personal data

- **The people a case is about** (often children): the concern summary, updates' observations,
  concerns, protective factors and asks, actions, review decisions, crisis summaries and
  outcomes, the closing outcome and lessons, consent, risk level and stage; the referring
  agency's own reference. This may include special-category data and data about criminal
  offences. casehub never posts their name or other identifiers to Slack: cases are known by a
  reference, and every free text is checked for identifiers before it is stored or shared.
  Their identity (names and aliases, date of birth, gender, address, school or employer,
  agencies' own references, contacts) is entered and seen only on the record desk, to find
  repeat referrals among the cases and referrals kept; it is deleted with their record.
- **The people a referral is about**, before the hub decides: the concern, why now, what has been
  done, whether the person (or a parent) knows and consents, urgency and risk, and the hub's
  decision with its reason; read only by the coordinators of the area it was made to.
- **Staff of the agencies**: Slack user IDs, roles, agency membership, on-call cover and time
  zones; what they filed, changed and were shown (the audit trail, the sharing log and the
  access log).

## Recipients

- The agencies taking part in each case, and only those: {agencies} registered.
- Slack, as processor, hosts the case channels, direct messages and forms; data residency and
  the workspace's own retention: {TO_COMPLETE}
- {mail}
- Exports: the lead coordinator of a case may export it in Slack (`/case export`, to their own
  direct messages) for a person's subject access request, a partner agency or a court, each
  redacted for its purpose; an operator may write one on the server (`python -m bot export
  case`). Each export is recorded in the access log and the audit trail (with the digests of its
  files), and one sent through Slack in the sharing log. Where an export goes next (the person,
  the agency, the court) is for the controller to record {TO_COMPLETE}

## Transfers to third countries

{TO_COMPLETE} (Slack's hosting region for this workspace).

## Retention

A case's record is kept {config.case_years} years after the person left support (its exit),
or after its closure when it never reached exit; a referral closed at referral or screening,
with no further action, is kept {config.screened_out_months} months. The lead coordinator and the
data protection officers are told {config.warning_days} days before, and a case is never deleted
sooner than that after the warning. A data protection officer may hold a case (an inquiry, a
claim, a subject's request); a held case is not deleted while held. When its time comes, its
personal and free-text content is deleted and a marker stays (reference, dates, stage reached,
risk level and consent category at closure, its agencies' kinds and an outcome category); its
audit entries keep who did what and when, with their details redacted; casehub deletes its own
messages from the case channel. A referral the hub signposted or closed with no further action
is kept {config.screened_out_months} months after the decision; then its texts and the identity
of its person are deleted and a marker stays; a referral accepted as a case goes with the case.
Messages people posted in Slack follow the workspace's own
retention settings {TO_COMPLETE}.

What casehub keeps only to deliver is purged sooner: the text of each message it has sent,
{config.outbox_days} days after sending (its key stays, so that it is never sent twice); the
keys of Slack deliveries it has processed, after {config.deliveries_days} days; finished jobs,
with the request they carried, after a day.

## Security measures

- Requests are acted on only when signed by Slack; people act only within their role and case.
- Free text is checked for identifiers of the person before it is stored or shared.
- The database is the record ({config.database}). The audit trail and the sharing log are
  append-only and tamper-evident chains, {keyed}; they are verified every day at
  {config.verify_time} UTC, with checkpoints kept outside the database ({config.checkpoint_file})
  and sent to the data protection officers.
- What people ask to see of a case (its card, timeline, sharing log, access log and crisis
  status, the case in their action lists, case lists and Home tab, its exports, and the person's
  identity on the record desk, as theirs or as a possible repeat referral) is recorded
  in the access log, which the lead and the data protection officers can read.
- Encryption at rest: what people type (concern summaries, agencies' own references, updates
  and their earlier versions, actions and their history, review decisions, crisis summaries and
  outcomes, closing outcomes and lessons, legal hold reasons, the texts casehub sends, the
  requests waiting in its job queue, the identity of the person a case is about and the reasons
  given for linking or dismissing a repeat referral)
  is encrypted in the database with AES-256-GCM, {encrypted}.
  Repeat referrals are found through a blind index: keyed digests (HMAC-SHA256 under
  MATCHING_KEY, kept outside the database) of normalised and phonetic forms of the identity,
  which show which people share a form but not what it is.
  Not encrypted there: references, dates, risk levels, stages, who did what, and the details of
  the audit trail, which may quote a legal hold's reason or a follow-up review's note. Slack keeps
  its own copy of what is posted there; the storage's encryption {TO_COMPLETE}.
"""
