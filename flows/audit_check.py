"""The daily check of the audit chains: verify them, keep a checkpoint outside the database,
and tell the data protection officers (and, when a link is broken, the admins)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path

from slack_sdk import WebClient

from bot.db import Database
from bot.settings import Settings
from flows import notify
from models import utcnow
from services import chain, outbox
from services.reminders import Due

log = logging.getLogger(__name__)


def read_checkpoints(path: Path) -> list[chain.Checkpoint]:
    """The checkpoints kept so far (one JSON object a line); none when the file is not there."""
    if not path.exists():
        return []
    found = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            found.append(chain.Checkpoint(**json.loads(line)))
        except (ValueError, TypeError):
            raise ValueError(f"{path}, line {number}, is not a checkpoint") from None
    return found


def keep_checkpoints(path: Path, checkpoints: Iterable[chain.Checkpoint]) -> None:
    with path.open("a", encoding="utf-8") as out:
        for checkpoint in checkpoints:
            out.write(json.dumps(asdict(checkpoint)) + "\n")


def verify(db: Database, checkpoint_file: Path) -> chain.Report:
    """Both chains, a long one walked in parts side by side (one a core, at most four)."""
    processes = min(4, os.cpu_count() or 1)
    return chain.verify_database(db.url, read_checkpoints(checkpoint_file), processes=processes)


def check_and_tell(db: Database, client: WebClient, settings: Settings) -> chain.Report:
    """Verify both chains; if intact, keep and send their checkpoint; if not, raise the alarm."""
    path = Path(settings.audit_checkpoint_file)
    try:
        report = verify(db, path)
    except ValueError as unreadable:  # the checkpoints cannot be read: that is an alarm too
        report = chain.Report([], checkpoint_problem=str(unreadable))
    today = utcnow().date().isoformat()
    officers = list(settings.casehub_dpos) or list(settings.casehub_admins)
    if report.intact:
        checkpoints = report.checkpoints()
        keep_checkpoints(path, checkpoints)
        ends = "; ".join(f"{c.chain} entry {c.seq}, link `{c.chain_hash}`" for c in checkpoints)
        text = (
            f":lock: casehub's audit chains are intact ({today}). Checkpoint: {ends}. Keep this "
            "message: `python -m bot audit verify` checks that the chains still hold these links."
        )
        dues = [Due(f"audit-checkpoint:{today}:{user}", user, text, None) for user in officers]
        log.info("audit chains intact; checkpoint kept")
    else:
        text = (
            f":rotating_light: casehub's audit chains are BROKEN ({today}): "
            + " / ".join(
                line for line in report.summary().splitlines() if "BROKEN" in line or "checkpoints:" in line
            )
            + ". Someone changed the record outside casehub. `python -m bot audit verify` shows the first "
            "broken link; keep the database as it is for the investigation."
        )
        recipients = dict.fromkeys([*settings.casehub_dpos, *settings.casehub_admins])
        dues = [Due(f"audit-broken:{today}:{user}", user, text, None) for user in recipients]
        log.warning("audit chains broken")
    with db.session() as session:
        outbox.record(session, dues)
    notify.send_ready(db, client, utcnow(), is_open=lambda *_: True, keys=[d.key for d in dues])
    return report
