"""ORM models only; the rules that govern them live in `services`."""

from models.agency import Agency, AgencyKind, Membership, Role
from models.audit import AuditEvent, Delivery
from models.base import Base, utcnow
from models.case import Case, CaseAgency, Consent, Risk, SetupState, Stage
from models.update import SharingRecord, Update, UpdateKind, UpdateRevision

__all__ = [
    "Agency",
    "AgencyKind",
    "AuditEvent",
    "Base",
    "Case",
    "CaseAgency",
    "Consent",
    "Delivery",
    "Membership",
    "Risk",
    "Role",
    "SetupState",
    "SharingRecord",
    "Stage",
    "Update",
    "UpdateKind",
    "UpdateRevision",
    "utcnow",
]
