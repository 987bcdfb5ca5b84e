"""ORM models only; the rules that govern them live in `services`."""

from models.access import AccessRecord
from models.action import Action, ActionEvent, ActionStatus, Priority
from models.agency import Agency, AgencyKind, Membership, Role
from models.audit import AuditChain, AuditEvent, Chained, Delivery
from models.base import Base
from models.case import Case, CaseAgency, Consent, Risk, SetupState, Stage
from models.clock import clock, utcnow
from models.crisis import Crisis, EscalationChain, OnCallOverride, OnCallRota, Page
from models.encryption import DataKey
from models.export import Export, ExportState
from models.hold import CaseHold
from models.job import Job, JobState
from models.person import Decision, MatchDecision, Person, PersonKey
from models.retention import MessageDeletion
from models.review import FollowUp, Notice, Preference, Review
from models.update import Disclosure, SharingRecord, Update, UpdateCorrection, UpdateKind, UpdateRevision

__all__ = [
    "AccessRecord",
    "Action",
    "ActionEvent",
    "ActionStatus",
    "Agency",
    "AgencyKind",
    "AuditChain",
    "AuditEvent",
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
    "MatchDecision",
    "Membership",
    "MessageDeletion",
    "Notice",
    "OnCallOverride",
    "OnCallRota",
    "Page",
    "Person",
    "PersonKey",
    "Preference",
    "Priority",
    "Review",
    "Risk",
    "Role",
    "SetupState",
    "SharingRecord",
    "Stage",
    "Update",
    "UpdateCorrection",
    "UpdateKind",
    "UpdateRevision",
    "clock",
    "utcnow",
]
