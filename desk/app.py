"""The record desk: a small web application, outside Slack, for what must never be in Slack.

Served by casehub's own web process under `/desk` (`bot.web.wsgi_app`), rendered on the server
from Jinja2 templates. People sign in with Slack (OpenID Connect, through Authlib's Flask
client); only coordinators and data protection officers are let in, and their role is checked
again at every request. A session lives in a signed cookie (HttpOnly, SameSite=Lax, Secure
behind TLS) and ends after `DESK_IDLE_MINUTES` without a request, checked on the server from
the time the cookie carries. Every form carries a CSRF token (Flask-WTF). Every page that shows
a case is recorded in the access log before it is sent.
"""

from __future__ import annotations

import logging
import secrets
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Flask, Response, abort, g, redirect, render_template, request, session, url_for
from flask_wtf.csrf import CSRFError, CSRFProtect
from slack_sdk import WebClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.middleware.proxy_fix import ProxyFix

from bot.db import Database
from bot.settings import Settings
from bot.slack import make_client
from desk import intake, record, referrals
from desk import person as person_fields
from flows import exporting
from flows import retention as retention_flow
from models import Case, utcnow
from services import access, areas, export, identity, referral_matching
from services.cases import normalise_reference
from services.errors import CasehubError

log = logging.getLogger("casehub.desk")
HERE = Path(__file__).resolve().parent
SEARCHED = ("given_names", "family_names", "date_of_birth")


class Person:
    """Who is signed in, as the desk knows them at this request."""

    def __init__(self, user_id: str, *, coordinator: bool, officer: bool, referrer: bool = False) -> None:
        self.user_id = user_id
        self.coordinator = coordinator
        self.officer = officer
        self.referrer = referrer  # of a referral still open: for that referral's person only

    @property
    def role(self) -> str:
        roles = (
            ("coordinator", self.coordinator),
            ("data protection officer", self.officer),
            ("referrer", self.referrer and not self.coordinator),
        )
        return " and ".join(word for word, held in roles if held)


def enabled(settings: Settings) -> bool:
    """The desk is served when Sign in with Slack is configured."""
    return bool(settings.slack_client_id and settings.slack_client_secret and settings.desk_secret_key)


def create_desk(db: Database, settings: Settings) -> Flask:
    assert settings.slack_client_secret is not None and settings.desk_secret_key is not None
    app = Flask("desk", template_folder=str(HERE / "templates"), static_folder=str(HERE / "static"))
    secure = (settings.desk_url or "").startswith("https://")
    app.config.update(
        SECRET_KEY=settings.desk_secret_key.get_secret_value(),
        SESSION_COOKIE_NAME="casehub_desk",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SECURE=secure,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_PATH="/desk",
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session, which expires itself
        MAX_CONTENT_LENGTH=256 * 1024,
    )
    if settings.desk_url:  # behind a proxy that terminates TLS: trust its forwarded scheme and host
        app.wsgi_app = ProxyFix(app.wsgi_app, x_proto=1, x_host=1)  # type: ignore[method-assign]
    CSRFProtect(app)
    oauth = OAuth(app)
    slack = oauth.register(
        "slack",
        client_id=settings.slack_client_id,
        client_secret=settings.slack_client_secret.get_secret_value(),
        server_metadata_url=f"{settings.slack_openid_url.rstrip('/')}/.well-known/openid-configuration",
        client_kwargs={"scope": "openid", "token_endpoint_auth_method": "client_secret_post"},
    )
    idle = settings.desk_idle_minutes * 60
    schedule = retention_flow.schedule_of(settings)
    openid_origin = _origin(settings.slack_openid_url)

    def who(user_id: str) -> Person | None:
        with db.reader() as s:
            coordinator = areas.is_coordinator(s, user_id)
            referrer = referral_matching.has_open_referral(s, user_id)
        officer = user_id in settings.casehub_dpos
        if not (coordinator or officer or referrer):
            return None
        return Person(user_id, coordinator=coordinator, officer=officer, referrer=referrer)

    @app.before_request
    def signed_in() -> Response | None:
        g.person, g.ended = None, False
        user_id, seen = session.get("user"), session.get("seen")
        if user_id is None:
            return None
        if not isinstance(seen, (int, float)) or time.time() - seen > idle:
            session.clear()
            g.ended = True
            return None
        person = who(str(user_id))
        if person is None:  # lost the role since signing in: out at once
            session.clear()
            return None
        session["seen"] = time.time()
        g.person = person
        return None

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            f"form-action 'self' {openid_origin}; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
        )
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        response.headers["Cache-Control"] = "no-store"  # case content is never kept by the browser
        if secure:
            response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        return response

    @app.errorhandler(CSRFError)
    def forged(error: CSRFError) -> tuple[str, int]:
        log.warning("desk: a form without a valid CSRF token was refused")
        why = "It did not come from a page of the desk, or it had expired. Open the page again and send it."
        return page("refused.html", 400, title="This form cannot be accepted", reason=why)

    @app.errorhandler(404)
    def missing(_error: Any) -> tuple[str, int]:
        return page("refused.html", 404, title="Not found", reason="There is no such page on the desk.")

    def page(template: str, status: int = 200, **values: Any) -> tuple[str, int]:
        return render_template(template, person=g.get("person"), **values), status

    def not_yours() -> tuple[str, int]:
        """The same answer whether or not the reference exists: nobody learns which are in use."""
        return page("refused.html", 404, title="Not found", reason="You lead no case with that reference.")

    def person_or_signin() -> Person:
        if g.person is None:
            abort(redirect(url_for("index")))
        person: Person = g.person
        return person

    @app.get("/")
    def index() -> Any:
        if g.person is None:
            ended = g.ended or request.args.get("ended") == "1"
            return page("signin.html", title="Sign in", ended=ended)
        if not (g.person.coordinator or g.person.officer):  # a referrer: their referrals only
            return redirect(url_for("referrals_list"))
        with db.reader() as s:
            listed = record.cases_for(s, g.person)
            ids = [c.id for c in listed]
        with db.session() as s:
            access.viewed(s, user=g.person.user_id, case_ids=ids, view="desk-cases", request_ref=_ref())
        return page("cases.html", title="Cases", cases=listed, now=utcnow())

    @app.get("/signin")
    def signin() -> Any:
        return slack.authorize_redirect(
            url_for("signed_in_with_slack", _external=True), nonce=secrets.token_urlsafe(16)
        )

    @app.get("/auth")
    def signed_in_with_slack() -> Any:
        if request.args.get("error"):
            why = "Slack did not sign you in. Sign in to your workspace in this browser, then try again."
            return page("refused.html", 403, title="Not signed in", reason=why)
        try:
            token = slack.authorize_access_token()
        except (OAuthError, ValueError, KeyError) as error:
            log.warning("desk: a sign-in was refused (%s)", type(error).__name__)
            return page(
                "refused.html",
                400,
                title="Sign-in refused",
                reason="The answer from Slack could not be verified. Start again from the desk.",
            )
        claims = token.get("userinfo") or {}
        user_id = str(claims.get("https://slack.com/user_id") or claims.get("sub") or "")
        team = claims.get("https://slack.com/team_id")
        if settings.slack_team_id and team != settings.slack_team_id:
            why = "The desk is for this partnership's Slack workspace only."
            return page("refused.html", 403, title="Another workspace", reason=why)
        person = who(user_id) if user_id else None
        if person is None:
            log.info("desk: someone without the role was refused")
            return page(
                "refused.html",
                403,
                title="The desk is for coordinators and data protection officers",
                reason="Your Slack account has neither role. Agency staff work in the case channels "
                "in Slack.",
            )
        session.clear()
        session["user"], session["seen"] = user_id, time.time()
        return redirect(url_for("index"))

    @app.post("/signout")
    def signout() -> Any:
        session.clear()
        return redirect(url_for("index"))

    @app.get("/cases/<reference>")
    def case_page(reference: str) -> Any:
        person = person_or_signin()
        with db.reader() as s:
            shown = record.case_for(s, person, reference, bases=settings.sharing_bases, schedule=schedule)
        if shown is None:
            return not_yours()
        ref = _ref()
        who_it_is: dict[str, Any] = {}
        with db.session() as s:
            access.viewed(s, user=person.user_id, case_ids=[shown.case_id], view="desk-case", request_ref=ref)
            if shown.record is not None:  # the lead: who the case is about, and earlier referrals
                case = s.get_one(Case, shown.case_id)
                who_it_is = record.person_of(s, case, user=person.user_id, ref=ref)
                who_it_is |= referrals.case_referrals(s, case, user=person.user_id, ref=ref)
        opened, token = request.args.get("opened"), secrets.token_urlsafe(12)
        return page(
            "case.html", title=f"Case {shown.reference}", shown=shown, opened=opened, token=token, **who_it_is
        )

    def lead_case(s: Session, reference: str, user: str) -> Case | None:
        case = s.scalar(select(Case).where(Case.reference == normalise_reference(reference)))
        return case if case is not None and case.lead_user_id == user and not case.is_purged else None

    @app.get("/cases/<reference>/person")
    def person_form(reference: str) -> Any:
        person = person_or_signin()
        with db.session() as s:
            case = lead_case(s, reference, person.user_id)
            if case is None:
                return not_yours()
            known = identity.show_identity(s, case, user=person.user_id, request_ref=_ref())
            shown_ref = case.reference
        values = person_fields.as_typed(known)
        return page("person.html", title=f"Case {shown_ref}: the person", reference=shown_ref, values=values)

    @app.post("/cases/<reference>/person")
    def person_save(reference: str) -> Any:
        """The identity recorded or corrected, and indexed for repeat referrals; audited by the
        names of the fields changed, never their content."""
        person = person_or_signin()
        values = person_fields.typed(request.form)
        with db.session() as s:
            case = lead_case(s, reference, person.user_id)
            if case is None:
                return not_yours()
            shown_ref = case.reference
            try:
                identity.save_identity(s, case, person_fields.read(values), person.user_id, _ref())
            except CasehubError as error:
                s.rollback()
                refused = intake.Refused(error.message, on=error.field)
                return page("person.html", 400, title=f"Case {shown_ref}: the person", reference=shown_ref,
                            values=values, refused=refused)  # fmt: skip
        return redirect(url_for("case_page", reference=shown_ref) + "#person-heading")

    @app.post("/cases/<reference>/match")
    def match_decide(reference: str) -> Any:
        """The lead says whether a candidate is the same person (linked) or not (dismissed)."""
        person = person_or_signin()
        decide = {"link": identity.link, "dismiss": identity.dismiss}.get(request.form.get("decision", ""))
        if decide is None:
            return page("refused.html", 400, title="Choose a decision", reason="Link or dismiss.")
        with db.session() as s:
            case = lead_case(s, reference, person.user_id)
            other_ref = request.form.get("other", "")
            other = s.scalar(select(Case).where(Case.reference == normalise_reference(other_ref)))
            if case is None or other is None:
                return not_yours()
            # Only a case proposed for this one, or one decided on before (to change its decision):
            # a reference typed into the form links nothing else. The score is casehub's own.
            proposed = {c.case_id: c.score for c in identity.candidates_for(s, case, limit=identity.POOL)}
            decided = {d.other(case.id): d.score for d in identity.decisions(s, case)}
            if other.id not in proposed and other.id not in decided:
                why = f"Case {other.reference} is not proposed as about the same person as this one."
                return page("refused.html", 400, title="Not recorded", reason=why)
            score = proposed.get(other.id, decided.get(other.id))
            # The form's one-time token: sent twice (a double click), it is one decision.
            token = request.form.get("token", "")[:64] or secrets.token_urlsafe(12)
            ref = f"desk:match:{case.id}:{other.id}:{token}"
            try:
                decide(s, case, other, actor=person.user_id, request_ref=ref, score=score)
            except CasehubError as error:
                s.rollback()
                return page("refused.html", 400, title="Not recorded", reason=error.message)
            shown_ref = case.reference
        return redirect(url_for("case_page", reference=shown_ref) + "#matches-heading")

    @app.get("/search")
    def search() -> Any:
        """Find the cases about a person by name and date of birth (a subject access or erasure
        request, a referral by telephone): for coordinators and officers; each case shown is
        recorded in the access log."""
        person = person_or_signin()
        if not (person.coordinator or person.officer):
            why = "Finding a person is for coordinators and data protection officers."
            return page("refused.html", 403, title="Not for referrers", reason=why)
        values = person_fields.as_typed(None) | {k: request.args.get(k, "") for k in SEARCHED}
        if not any(values[k].strip() for k in SEARCHED):
            return page("search.html", title="Find a person", values=values, found=None)
        try:
            wanted = identity.check(person_fields.read(values))
        except CasehubError as error:
            refused = intake.Refused(error.message, on=error.field)
            return page("search.html", 400, title="Find a person", values=values, found=None, refused=refused)
        with db.session() as s:
            found = identity.candidates(s, wanted, limit=10)
            if found:
                identity.shown_candidates(s, user=person.user_id, found=found, request_ref=_ref())
        return page("search.html", title="Find a person", values=values, found=found)

    @app.get("/intake")
    def intake_form() -> Any:
        person = person_or_signin()
        return intake_page(person, intake.Entered.empty(person.user_id, token=secrets.token_urlsafe(16)))

    @app.post("/intake")
    def intake_submit() -> Any:
        """A case opened from the desk: recorded through the same service as `/case open`, then
        its channel set up by reference, as a form's submission from Slack sets it up."""
        person = person_or_signin()
        entered = intake.Entered.from_form(request.form)
        try:
            reference = intake.open_case(db, slack_client(), settings, person.user_id, entered)
        except intake.Refused as refused:
            return intake_page(person, entered, refused, status=400)
        return redirect(url_for("case_page", reference=reference, opened=1))

    def intake_page(
        person: Person, entered: intake.Entered, refused: intake.Refused | None = None, *, status: int = 200
    ) -> tuple[str, int]:
        if not person.coordinator:
            why = "A data protection officer administers the record; a coordinator opens cases."
            return page("refused.html", 403, title="Only coordinators open cases", reason=why)
        with db.reader() as s:
            choices = intake.choices(s, person.user_id)
        return page(
            "intake.html", status, title="Open a case", entered=entered, refused=refused, choices=choices
        )

    referrals.register(app, db, page)

    client_box: list[WebClient] = []

    def slack_client() -> WebClient:
        if not client_box:
            client_box.append(make_client(settings))
        return client_box[0]

    @app.post("/cases/<reference>/export")
    def export_case(reference: str) -> Any:
        """The lead downloads the case's export, PDF or JSON, for the purpose they choose;
        recorded as every export is (the exports register, the access log, the audit trail)."""
        person = person_or_signin()
        try:
            purpose = export.parse_purpose(request.form.get("purpose", ""))
        except CasehubError:
            return page(
                "refused.html",
                400,
                title="Choose who the export is for",
                reason="Choose subject, agency or court.",
            )
        kind = request.form.get("format")
        if kind not in ("pdf", "json"):
            return page("refused.html", 400, title="Choose a format", reason="Choose PDF or JSON.")
        with db.reader() as s:
            case = s.scalar(select(Case).where(Case.reference == normalise_reference(reference)))
            if case is None or case.lead_user_id != person.user_id:
                return not_yours()
            asked = exporting.Asked(person.user_id, case.id, case.reference, purpose, _ref())
        try:
            made = exporting.produce(db, settings, asked)
        except CasehubError as error:
            return page("refused.html", 503, title="No export made", reason=error.message)
        name = export.file_name(asked.reference, purpose, utcnow().date(), kind)
        body, mimetype = (made.pdf, "application/pdf") if kind == "pdf" else (made.data, "application/json")
        return Response(
            body, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{name}"'}
        )

    return app


def _ref() -> str:
    return f"desk:{request.method} {request.path}:{secrets.token_hex(6)}"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
