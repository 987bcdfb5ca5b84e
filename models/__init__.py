"""ORM models only; the rules that govern them live in `services`."""

from models.access import AccessRecord
from models.action import Action, ActionEvent, ActionStatus, Priority
from models.agency import Agency, AgencyKind, Membership, Role
from models.area import NATIONAL, Area, AreaAgency, Overseer
from models.audit import AuditChain, AuditEvent, Chained, Delivery
from models.base import Base
from models.case import Case, CaseAgency, Consent, Risk, SetupState, Stage
from models.clock import clock, utcnow
from models.crisis import Crisis, EscalationChain, OnCallOverride, OnCallRota, Page
from models.encryption import DataKey
from models.export import Export, ExportState
from models.hold import CaseHold
from models.job import Job, JobState
from models.lesson import Lesson, LessonEvent, LessonStatus
from models.person import Decision, MatchDecision, Person, PersonKey
from models.referral import (
    Awareness,
    LinkDecision,
    Referral,
    ReferralConsent,
    ReferralLink,
    ReferralState,
    Urgency,
)
from models.report_release import ReleaseState, ReportRelease
from models.retention import MessageDeletion
from models.review import FollowUp, Notice, Preference, Review
from models.transfer import Transfer, TransferState
from models.update import Disclosure, SharingRecord, Update, UpdateCorrection, UpdateKind, UpdateRevision

__all__ = [
    "NATIONAL",
    "AccessRecord",
    "Action",
    "ActionEvent",
    "ActionStatus",
    "Agency",
    "AgencyKind",
    "Area",
    "AreaAgency",
    "AuditChain",
    "AuditEvent",
    "Awareness",
    "Base",
    "Case",
    "CaseAgency",
    "CaseHold",
    "Chained",
    "Consent",
    "Crisis",
    "DataKey",
    "Decision",
    "Delivery",
    "Disclosure",
    "EscalationChain",
    "Export",
    "ExportState",
    "FollowUp",
    "Job",
    "JobState",
    "Lesson",
    "LessonEvent",
    "LessonStatus",
    "LinkDecision",
    "MatchDecision",
    "Membership",
    "MessageDeletion",
    "Notice",
    "OnCallOverride",
    "OnCallRota",
    "Overseer",
    "Page",
    "Person",
    "PersonKey",
    "Preference",
    "Priority",
    "Referral",
    "ReferralConsent",
    "ReferralLink",
    "ReferralState",
    "ReleaseState",
    "ReportRelease",
    "Review",
    "Risk",
    "Role",
    "SetupState",
    "SharingRecord",
    "Stage",
    "Transfer",
    "TransferState",
    "Update",
    "UpdateCorrection",
    "UpdateKind",
    "UpdateRevision",
    "Urgency",
    "clock",
    "utcnow",
]
