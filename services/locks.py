"""Taking turns: two requests about one case (or one agency) change it one after the other.

A change that reads before it writes (the next action number, whether a crisis is open,
whether a delivery was saved already) first holds the row lock of the case or agency it
belongs to, until its transaction ends. A second request about the same case waits for the
first to commit, then reads what the first wrote.

On PostgreSQL the lock is `FOR NO KEY UPDATE`: rows that refer to the case (a new action,
an audit event) do not wait for it, so the only requests that queue are those that lock the
case themselves. SQLite has no row locks and needs none here: every unit of work holds the
database's one write lock from its start (`bot.db`).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Agency, Area, Case
from services import chain


def hold(session: Session, *rows: Case | Agency | Area) -> None:
    """Lock these rows to the end of the transaction; what was read before is read again.

    Areas are locked before agencies, agencies before cases, and each kind in the order of its
    ids, so that two units of work locking several rows cannot each wait for the other.
    """
    # The ends of the audit chains first, as every audited change takes them (services.chain):
    # one order for every unit of work, so that none waits for another in a cycle.
    chain.hold_ends(session)
    # What this unit of work changed so far is written first: forgetting it would undo it.
    session.flush()
    for kind in (Area, Agency, Case):
        ids = sorted({row.id for row in rows if isinstance(row, kind)})
        if ids:
            locked = select(kind.id).where(kind.id.in_(ids)).order_by(kind.id)
            session.execute(locked.with_for_update(key_share=True))
    # Anything loaded before the lock may have changed since; it is loaded again when next used.
    session.expire_all()
