"""An export's bundle drawn as a readable PDF: a title page, the sections in order, a chronology,
the redactions counted, and "Page X of Y" on every page.

Text is drawn in a Unicode TrueType font, so that whatever was typed (accents, other scripts,
curly quotes) is shown as typed. The font is the one `EXPORT_FONT` names, or else DejaVu Sans
where the system keeps it (Debian's `fonts-dejavu-core`, which `.ci/run` installs). Without
one, the PDF falls back to the PDF core font Helvetica, which has Latin-1 only. Either way a
character the font cannot draw (an emoji, a script DejaVu lacks, anything outside Latin-1 for
Helvetica) is shown as a look-alike or "?", the title page says so, and the JSON keeps the text
exactly; the log says how many, never which (they were typed). Asking the font first also keeps
fpdf2 from logging the glyphs it misses.
"""

from __future__ import annotations

import functools
import logging
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from fontTools.ttLib import TTFont
from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import FontFace

from services.export import REDACTION_LABELS, Bundle

log = logging.getLogger(__name__)

# Where systems keep DejaVu Sans: Debian and Ubuntu, Fedora, Arch, Alpine, Homebrew and macOS.
FONT_DIRS = (
    "/usr/share/fonts/truetype/dejavu",
    "/usr/share/fonts/dejavu-sans-fonts",
    "/usr/share/fonts/dejavu",
    "/usr/share/fonts/TTF",
    "/usr/local/share/fonts",
    "/opt/homebrew/share/fonts",
    "/Library/Fonts",
)
FONT_FILE, BOLD_FILE = "DejaVuSans.ttf", "DejaVuSans-Bold.ttf"
FAMILY = "casehub"
CORE_FAMILY = "helvetica"
MARGIN = 15
BODY = 9.5
LINE = 4.8
# Latin-1 look-alikes for the characters people type most that Helvetica does not have.
_PLAIN = str.maketrans(
    {"‘": "'", "’": "'", "‚": ",", "“": '"', "”": '"', "„": '"', "–": "-", "—": "-", "…": "...",
     "→": "->", "←": "<-", "•": "*", "€": "EUR", "œ": "oe", "Œ": "OE", "\u00a0": " "}
)  # fmt: skip


@dataclass(frozen=True)
class Font:
    regular: Path
    bold: Path | None = None


def look_alike(char: str, can_draw: Callable[[str], bool]) -> str:
    """What to draw for a character the font has not: a look-alike it has, or "?"."""
    alike = char.translate(_PLAIN)
    if alike == char:
        alike = unicodedata.normalize("NFKD", char)
    return alike if alike and all(can_draw(c) for c in alike) else "?"


def find_font(configured: str | None = None) -> Font | None:
    """The Unicode font to draw with: `configured` (EXPORT_FONT, checked at start-up), else DejaVu
    Sans where the system keeps it; None when there is none (the core-font fallback)."""
    if configured:
        regular = Path(configured)
        bold = regular.with_name(f"{regular.stem}-Bold{regular.suffix}")
        return Font(regular, bold if bold.is_file() else None)
    for folder in FONT_DIRS:
        regular = Path(folder) / FONT_FILE
        if regular.is_file():
            bold = regular.with_name(BOLD_FILE)
            return Font(regular, bold if bold.is_file() else None)
    return None


@functools.lru_cache(maxsize=8)
def drawable(path: Path) -> frozenset[int]:
    """The characters a TrueType font has glyphs for."""
    with TTFont(str(path), lazy=True) as font:
        return frozenset(font.getBestCmap() or {})


def render(bundle: Bundle, font: Font | None) -> bytes:
    """The PDF of `bundle`, drawn with `font` (or the core-font fallback)."""
    pdf = ExportPDF(bundle, font)
    pdf.title_page(missing=pdf.undrawable(bundle.to_json().decode("utf-8")))
    for number, (title, draw) in enumerate(_SECTIONS, start=1):
        pdf.section(f"{number}. {title}")
        draw(pdf, bundle)
    pdf.section(f"{len(_SECTIONS) + 1}. Redactions")
    _redactions(pdf, bundle)
    if pdf.replaced:
        log.warning(
            "export of case %s: %d character(s) its font cannot draw shown as look-alikes or '?'%s",
            bundle.reference,
            pdf.replaced,
            "" if font else " (no Unicode font: set EXPORT_FONT)",
        )
    return bytes(pdf.output())


class ExportPDF(FPDF):
    """An A4 page with the export's running header and its page numbers."""

    def __init__(self, bundle: Bundle, font: Font | None) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.bundle, self.unicode, self.replaced = bundle, font is not None, 0
        self.has_bold = font is None or font.bold is not None
        # What the font can draw: for the core font, Latin-1; for a TrueType font, its glyphs
        # (those of its bold face too, when it has one).
        self.drawable_chars: frozenset[int] = frozenset(range(256))
        if font is not None:
            self.drawable_chars = drawable(font.regular) & (
                drawable(font.bold) if font.bold else drawable(font.regular)
            )
            self.add_font(FAMILY, "", str(font.regular))
            if font.bold is not None:
                self.add_font(FAMILY, "B", str(font.bold))
        self.typeface = FAMILY if font is not None else CORE_FAMILY
        self.blank = "—" if self.can_draw("—") else "-"  # what an empty field shows
        self.set_margins(MARGIN, MARGIN, MARGIN)
        self.set_auto_page_break(auto=True, margin=MARGIN + 5)
        self.alias_nb_pages()
        self.set_title(f"casehub export: case {bundle.reference} for {bundle.purpose_label}")
        self.set_author("casehub")
        self.set_creator("casehub")
        self.set_creation_date(datetime.fromisoformat(bundle.made_at))
        self.add_page()

    # ---- text --------------------------------------------------------------------------------
    def can_draw(self, char: str) -> bool:
        return ord(char) in self.drawable_chars or char in "\n\t"

    def undrawable(self, text: str) -> int:
        return sum(not self.can_draw(char) for char in text)

    def plain(self, text: object) -> str:
        """Text as the font can draw it: each character it has not a look-alike or "?" (counted)."""
        value = self.blank if text is None or text == "" else str(text)
        if all(self.can_draw(char) for char in value):
            return value
        out = []
        for char in value:
            if self.can_draw(char):
                out.append(char)
                continue
            self.replaced += 1
            out.append(look_alike(char, self.can_draw))
        return "".join(out)

    def style(self, size: float = BODY, *, bold: bool = False) -> None:
        self.set_font(self.typeface, "B" if bold and self.has_bold else "", size)

    def para(self, text: object, *, size: float = BODY, bold: bool = False) -> None:
        self.style(size, bold=bold)
        self.multi_cell(0, LINE, self.plain(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT, align="L")

    def labelled(self, label: str, text: object) -> None:
        """A label on its own line and a text under it, wrapped across pages if long."""
        if text is None or text == "":
            return
        self.para(label, bold=True)
        self.para(text)
        self.ln(1)

    def fields(self, rows: Sequence[tuple[str, object]]) -> None:
        """Short facts in two columns; those without a value are left out."""
        _fields(self, rows)

    # ---- page furniture ----------------------------------------------------------------------
    def header(self) -> None:
        if self.page_no() == 1:
            return
        self.style(7.5)
        self.set_text_color(110)
        self.cell(
            0,
            5,
            self.plain(f"casehub · case {self.bundle.reference} · export for {self.bundle.purpose_label}"),
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
        self.set_text_color(0)
        self.ln(2)

    def footer(self) -> None:
        self.set_y(-MARGIN)
        self.style(7.5)
        self.set_text_color(110)
        self.cell(0, 5, f"Page {self.page_no()} of {{nb}}", align="C")
        self.set_text_color(0)

    def section(self, title: str) -> None:
        """A section's heading, never alone at the foot of a page."""
        if self.get_y() > self.h - MARGIN - 45:
            self.add_page()
        self.ln(4)
        self.para(title, size=13, bold=True)
        self.ln(1.5)

    def title_page(self, *, missing: int) -> None:
        b = self.bundle
        self.style(9)
        self.set_text_color(110)
        self.cell(0, 6, "casehub: multi-agency case record", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_text_color(0)
        self.ln(3)
        self.style(22, bold=True)
        self.cell(0, 11, self.plain(f"Case {b.reference}"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.para(f"Export for {b.purpose_label}", size=14)
        self.ln(4)
        self.fields(
            [
                ("Case reference", b.reference),
                ("Export", f"no. {b.export_number}" if b.export_number else None),
                ("Purpose", f"{b.purpose} ({b.purpose_label})"),
                ("Made", _when(b.made_at) + " UTC"),
                ("Made by", b.made_by),
                ("Made through", b.made_via),
                ("Times", "All times are UTC; dates are YYYY-MM-DD."),
            ]
        )
        self.ln(3)
        self.labelled("What this export contains", b.rules)
        removed = sum(b.redactions.values())
        self.labelled(
            "Redactions",
            f"{removed} redaction(s) were made for this purpose; the last section counts them by kind."
            if removed
            else "None were needed for this purpose.",
        )
        self.labelled(
            "Identity of the person concerned",
            "casehub never records the name or other identifiers of the person the case is about: the "
            "case is known by its reference.",
        )
        if missing:
            font = (
                "its font"
                if self.unicode
                else "the Latin-1 font it was made with (no Unicode font was found)"
            )
            self.labelled(
                "Characters",
                f"{missing} character(s) that {font} cannot draw are shown as look-alikes or '?'. The "
                "JSON file of this export holds every text exactly as stored.",
            )


def _grid(
    pdf: ExportPDF,
    headings: Sequence[str] | None,
    rows: Sequence[Sequence[object]],
    widths: Sequence[float],
) -> None:
    """A table whose rows wrap their text and continue on the next page, headings repeated."""
    pdf.style(8.5)
    bold = FontFace(emphasis="BOLD" if pdf.has_bold else None, fill_color=(235, 235, 235))
    with pdf.table(
        col_widths=tuple(widths),
        width=sum(widths),
        align="LEFT",
        text_align="LEFT",
        line_height=4.2,
        first_row_as_headings=headings is not None,
        headings_style=bold,
        padding=1,
    ) as table:
        if headings is not None:
            row = table.row()
            for heading in headings:
                row.cell(pdf.plain(heading))
        for values in rows:
            row = table.row()
            for value in values:
                row.cell(pdf.plain(value))
    pdf.ln(2)


def _fields(pdf: ExportPDF, rows: Sequence[tuple[str, object]]) -> None:
    _grid(pdf, None, [(label, value) for label, value in rows if value not in (None, "")], (45, 135))


def _when(value: str | None) -> str:
    return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M") if value else "—"


def _none(pdf: ExportPDF, what: str) -> None:
    pdf.para(f"No {what}.")


# ---- the sections -------------------------------------------------------------------------------


def _case(pdf: ExportPDF, b: Bundle) -> None:
    c = b.case
    consent = c["consent"] + (f" ({c['consent_date']})" if c["consent_date"] else "")
    _fields(
        pdf,
        [
            ("Reference", c["reference"]),
            ("Opened", _when(c["opened_at"])),
            ("Opened by", c["opened_by"]),
            ("Lead coordinator", c["lead"]),
            ("Stage now", c["stage"]),
            ("Risk now", c["risk"]),
            ("Consent now", consent),
            ("Reviews", f"every {c['review_every_weeks']} week(s)"),
            ("Next review", _when(c["next_review_at"]) if c["next_review_at"] else None),
            ("Closed", _when(c["closed_at"]) if c["closed_at"] else "not closed"),
            ("Referring agency's reference", c.get("agency_reference")),
        ],
    )
    deleted = c.get("deleted_under_retention")
    if deleted:
        kinds = ", ".join(deleted["agency_kinds"]) or "none recorded"
        pdf.para(
            f"This case's record was deleted under the retention schedule on {_when(deleted['at'])}. "
            f"What remains is its marker: the stage it reached ({deleted['stage_reached']}), its outcome "
            f"category ({deleted['outcome_category']}), the kinds of its agencies ({kinds}) and its dates; "
            "and, in the audit trail and the sharing log, who did what and when, without content.",
            bold=True,
        )
    pdf.labelled("Concern (summary)", c["summary"])
    pdf.labelled("Outcome", c["outcome"])
    pdf.labelled("Lessons learned", c["lessons"])


def _person(pdf: ExportPDF, b: Bundle) -> None:
    p = b.person
    if p is None:
        kept = "Not in this export: the identity is kept on the record desk, and goes only into a court's"
        pdf.para(kept + " or the person's own export made outside Slack.")
        return
    rows = [
        ("Given names", p["given_names"]),
        ("Family names", p["family_names"]),
        ("Other names", ", ".join(p["aliases"]) or None),
        ("Date of birth", p["date_of_birth"]),
        ("Gender", p["gender"]),
        ("Address", p["address"]),
        ("School or employer", p["school_or_employer"]),
        ("Agencies' references", ", ".join(p["agency_references"]) or None),
    ]
    if "contacts" in p:
        rows.append(("Contacts", ", ".join(p["contacts"]) or None))
    _fields(pdf, rows)


def _agencies(pdf: ExportPDF, b: Bundle) -> None:
    rows = [
        (a["agency"], a["kind"], _when(a["joined_at"]), a["added_by"], _when(a["left_at"]), a["removed_by"])
        for a in b.agencies
    ]
    _grid(pdf, ("Agency", "Kind", "Joined", "Added by", "Left", "Removed by"), rows, (44, 24, 28, 28, 28, 28))


def _stages(pdf: ExportPDF, b: Bundle) -> None:
    rows = [(_when(s["at"]), s["from"], s["to"], s["by"], s.get("reason")) for s in b.stages]
    _grid(pdf, ("When", "From", "To", "By", "Reason"), rows, (30, 30, 30, 40, 50))


def _consent(pdf: ExportPDF, b: Bundle) -> None:
    if not b.consent:
        pdf.para(f"No consent decision recorded (consent now: {b.case['consent']}).")
        return
    rows = [(_when(c["at"]), c["decision"], c["date"], c["by"]) for c in b.consent]
    _grid(pdf, ("Recorded", "Decision", "Decided on", "By"), rows, (35, 40, 35, 70))


def _updates(pdf: ExportPDF, b: Bundle) -> None:
    if not b.updates:
        _none(pdf, "updates")
    for update in b.updates:
        if "withheld" in update:
            pdf.para(f"{_when(update['at'])} · {update['agency']} · {update['withheld']}", bold=True)
            pdf.ln(2)
            continue
        flag = (
            " · RESTRICTED (the lead coordinator and the filing agency only)" if update["restricted"] else ""
        )
        pdf.para(f"{_when(update['at'])} · {update['agency']} · {update['kind']}{flag}", bold=True)
        _fields(
            pdf,
            [
                ("Filed by", f"{update['filed_by']} ({update['filer_role']})"),
                ("Date of contact", update["contact_date"]),
                ("Risk", update["risk"] or "unchanged"),
                ("Corrected", _when(update["corrected_at"]) if update["corrected_at"] else None),
            ],
        )
        _update_texts(pdf, update)
        for version in update["earlier_versions"]:
            if "withheld" in version:
                pdf.para(f"Version replaced {_when(version['replaced_at'])}: {version['withheld']}")
                continue
            pdf.para(
                f"Version replaced {_when(version['replaced_at'])} by {version['replaced_by']}:", bold=True
            )
            _update_texts(pdf, version)
        for asked in update.get("corrections_asked", []):
            decided = {
                "approved": f"approved by {asked['decided_by']} on {_when(asked['decided_at'])}",
                "refused": f"refused by {asked['decided_by']} on {_when(asked['decided_at'])}",
            }.get(asked["state"], "waiting for the lead coordinator")
            pdf.para(
                f"Correction asked {_when(asked['asked_at'])} by {asked['asked_by']}: {decided}.", bold=True
            )
            pdf.labelled("Why", asked["reason"])
            if "proposed" in asked:
                pdf.para("What it proposed:")
                _update_texts(pdf, asked["proposed"])
        pdf.ln(2)


def _update_texts(pdf: ExportPDF, update: dict[str, Any]) -> None:
    pdf.labelled("Observed or done", update["observed"])
    pdf.labelled("Protective factors", update["protective_factors"])
    pdf.labelled("Concerns", update["concerns"])
    pdf.labelled("Asks of partners", update["asks"])


def _actions(pdf: ExportPDF, b: Bundle) -> None:
    if not b.actions:
        _none(pdf, "actions")
    for action in b.actions:
        pdf.para(f"#{action['number']} {action['text']}", bold=True)
        _fields(
            pdf,
            [
                ("Agency", action["agency"]),
                ("Owner", action["owner"]),
                ("Due", action["due"]),
                ("Priority", action["priority"]),
                ("Status", action["status"]),
                ("Added", f"{_when(action['created_at'])} by {action['created_by']}"),
                ("Done", f"{_when(action['done_at'])} by {action['done_by']}" if action["done_at"] else None),
            ],
        )
        rows = [(_when(e["at"]), e["what"], e["by"], _details(e["details"])) for e in action["history"]]
        _grid(pdf, ("When", "What", "By", "Details"), rows, (30, 25, 40, 85))


def _details(details: dict[str, Any]) -> str:
    parts = []
    for key, value in details.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items() if v)
        if value not in (None, "", {}):
            parts.append(f"{key}: {value}")
    return "; ".join(parts)


def _reviews(pdf: ExportPDF, b: Bundle) -> None:
    if not b.reviews:
        _none(pdf, "reviews recorded")
    for review in b.reviews:
        pdf.para(f"Review held {review['held_on']}", bold=True)
        _fields(
            pdf,
            [
                ("Recorded", f"{_when(review['recorded_at'])} by {review['recorded_by']}"),
                ("Agencies present", ", ".join(review["agencies_present"])),
                ("Risk after", review["risk_after"]),
                ("Next review", _when(review["next_review_at"]) if review["next_review_at"] else None),
            ],
        )
        pdf.labelled("Decisions", review["decisions"])
    if b.follow_ups:
        pdf.para("Follow-up reviews", bold=True)
        rows = [(f["label"], f["due_on"], f["held_on"], f["recorded_by"], f["note"]) for f in b.follow_ups]
        _grid(pdf, ("Follow-up", "Due", "Held", "Recorded by", "Note"), rows, (40, 22, 22, 36, 60))


def _crises(pdf: ExportPDF, b: Bundle) -> None:
    if not b.crises:
        _none(pdf, "crises")
    for crisis in b.crises:
        pdf.para(f"Crisis raised {_when(crisis['raised_at'])}", bold=True)
        _fields(
            pdf,
            [
                ("Raised by", crisis["raised_by"]),
                ("State", crisis["state"]),
                (
                    "Resolved",
                    f"{_when(crisis['resolved_at'])} by {crisis['resolved_by']}"
                    if crisis["resolved_at"]
                    else None,
                ),
            ],
        )
        pdf.labelled("What was happening", crisis["summary"])
        pdf.labelled("Outcome", crisis["outcome"])
        with_people = any("person" in page for page in crisis["pages"])
        if with_people:
            rows: list[tuple[object, ...]] = [
                (
                    _when(p["at"]),
                    p["agency"],
                    p["level"],
                    p["person"],
                    _when(p["acknowledged_at"]),
                    p["acknowledged_by"],
                )
                for p in crisis["pages"]
            ]
            headings: tuple[str, ...] = ("Paged", "Agency", "Level", "Person", "Acknowledged", "By")
            widths: tuple[float, ...] = (30, 45, 14, 27, 30, 34)
        else:
            rows = [
                (_when(p["at"]), p["agency"], p["level"], _when(p["acknowledged_at"]))
                for p in crisis["pages"]
            ]
            headings, widths = ("Paged", "Agency", "Level", "Acknowledged"), (35, 80, 20, 45)
        if rows:
            _grid(pdf, headings, rows, widths)


def _sharing(pdf: ExportPDF, b: Bundle) -> None:
    if not b.sharing_log:
        _none(pdf, "disclosures recorded")
        return
    rows = [
        (
            _when(s["at"]),
            s["what"],
            s["from_agency"],
            " / ".join(x for x in (s["to_agency"], s["to_person"]) if x) or None,
            s["shared_by"],
            s["basis_label"],
        )
        for s in b.sharing_log
    ]
    _grid(
        pdf, ("When", "What", "From", "To", "By", "Purpose and lawful basis"), rows, (25, 45, 25, 30, 20, 35)
    )


def _chronology(pdf: ExportPDF, b: Bundle) -> None:
    pdf.para(
        "Everything above in the order it happened; long texts are shortened here and given in full "
        "in their sections."
    )
    pdf.ln(1)
    rows = [(_when(line["at"]), line["what"], line["agency"], line["text"]) for line in b.chronology]
    _grid(pdf, ("When", "What", "Agency", "Detail"), rows, (27, 20, 35, 98))


def _redactions(pdf: ExportPDF, b: Bundle) -> None:
    pdf.para(
        "What was left out of this export for its purpose, counted so that whoever reviews it before "
        "it goes out knows what was removed."
    )
    pdf.ln(1)
    rows = [(REDACTION_LABELS[key], count) for key, count in b.redactions.items()]
    _grid(pdf, ("Redaction", "Count"), rows, (150, 30))


_SECTIONS = [
    ("The case", _case),
    ("The person", _person),
    ("Agencies", _agencies),
    ("Stages", _stages),
    ("Consent", _consent),
    ("Updates", _updates),
    ("Actions", _actions),
    ("Reviews", _reviews),
    ("Crises", _crises),
    ("Sharing log", _sharing),
    ("Chronology", _chronology),
]
