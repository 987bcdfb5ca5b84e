"""What a closing or a review offers the lessons register: a prompt to the lead, never an item.

Nothing typed at a closing or a review becomes a lesson on its own: the lead is asked, once, with
a button that opens the `/lesson add` form prefilled, where a coordinator shapes the lesson and
the identifier gate checks it like any other text.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from blocks import lessons as lesson_blocks
from models import Case
from services import outbox


def prompt_key(source: str, ident: int) -> str:
    return f"lesson-prompt:{source}:{ident}"


def owe_prompt(session: Session, *, case: Case, source: str, ident: int) -> str:
    """Record the prompt in the change's transaction (`source`: close, with the case's id, or
    review, with the review's); returns its key, for `notify.send_owed`."""
    key = prompt_key(source, ident)
    where = "closing" if source == "close" else "review"
    blocks = lesson_blocks.capture_prompt(case.reference, where, f"{source}:{ident}")
    text = f"Add the lessons of case {case.reference} to the lessons register?"
    outbox.owe(session, key, text=text, blocks=blocks, recipient=case.lead_user_id)
    return key
