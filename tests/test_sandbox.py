"""The sandbox through its HTTP surfaces: the seeded partnership, what each person is shown,
what they do reaching casehub as Slack would send it, the clock, reset, and the command that
starts it all. (Its pages in a real browser: test_sandbox_browser.py.)

The sandbox is casehub's embedded setup by definition (a SQLite file it seeds), so these tests
run on SQLite only.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select

from bot.db import Database
from models import Action, ActionStatus, Agency, Crisis, Page, Update
from sandbox.partnership import as_slack_sends, load
from tests.helpers import wait_for
from tests.sandbox_helpers import (
    COORDINATOR,
    ON_CALL,
    OUTSIDER,
    POLICE,
    TEACHER,
    Served,
)

ROOT = Path(__file__).resolve().parent.parent


def first_case_channel(served: Served) -> str:
    return served.cases()[0].channel_id or ""


# ---- the seeded partnership --------------------------------------------------------------------
def test_the_partnership_has_seven_agencies_and_ten_people(served: Served) -> None:
    state = served.state(COORDINATOR)
    assert len(state["people"]) == 10
    assert {p["role"] for p in state["people"]} == {"coordinator", "member", "oncall", "outsider"}
    assert len({p["tz"] for p in state["people"]}) > 1
    db = Database(served.sandbox.database_url)
    with db.reader() as session:
        kinds = session.scalars(select(Agency.kind)).all()
    db.dispose()
    assert len(kinds) == 7 and len(set(kinds)) == 7


def test_three_cases_at_different_stages_with_history(served: Served) -> None:
    cases = served.cases()
    assert [c.stage.value for c in cases] == ["support", "assessment", "referral"]
    first = cases[0]
    db = Database(served.sandbox.database_url)
    with db.reader() as session:
        agencies_updating = session.scalar(
            select(func.count(func.distinct(Update.agency_id))).where(Update.case_id == first.id)
        )
        actions = session.scalars(
            select(Action).where(Action.case_id == first.id).order_by(Action.number)
        ).all()
        crisis = session.scalars(select(Crisis).where(Crisis.case_id == first.id)).one()
        pages = session.scalars(select(Page).where(Page.crisis_id == crisis.id)).all()
    db.dispose()
    today = datetime.now().date()
    assert agencies_updating == 4
    assert [a.status for a in actions] == [ActionStatus.DONE, ActionStatus.OPEN, ActionStatus.OPEN]
    assert actions[1].due < today < actions[2].due  # one overdue, one due soon
    assert crisis.resolved_at is not None
    assert any(p.user_id == ON_CALL and p.acknowledged_at is not None for p in pages)
    assert first.next_review_at is not None and first.next_review_at.date() > today
    # The workspace agrees with the record: the case's channel has the messages of its history.
    shown = served.seen(COORDINATOR, first.channel_id or "")
    assert "Attendance down to 72%" in shown and "Crisis" in shown


# ---- who sees what --------------------------------------------------------------------------------
def test_someone_outside_every_case_finds_no_trace_of_one(served: Served) -> None:
    cases = served.cases()
    assert served.post("/ui/home", {"as": OUTSIDER})["ok"]
    served.sandbox.wait_idle()
    outsider = served.state(OUTSIDER, "home")
    assert [c["name"] for c in outsider["sidebar"]["channels"]] == ["general"]
    for case in cases:
        behind = served.state(OUTSIDER, case.channel_id or "")
        assert behind["channel"] is None and behind["messages"] == []
    everything = json.dumps(
        [outsider, served.state(OUTSIDER, served.sandbox.general), served.state(OUTSIDER, f"D{OUTSIDER}")]
    )
    for case in cases:
        assert case.reference not in everything and case.reference.lower() not in everything
        assert case.summary[:30] not in everything
    # Positive control: a member of the first case is shown it, in the sidebar and on Home.
    assert served.post("/ui/home", {"as": TEACHER})["ok"]
    served.sandbox.wait_idle()
    teacher = served.state(TEACHER, "home")
    assert cases[0].reference.lower() in json.dumps(teacher["sidebar"])
    assert cases[0].reference in json.dumps(teacher["home"])


def test_a_command_reaches_casehub_and_each_person_sees_what_slack_would_show(served: Served) -> None:
    channel = first_case_channel(served)
    seen_before = {m["ts"] for m in served.state(POLICE, channel)["messages"]}
    answer = served.send(TEACHER, channel, "/update Attendance back up to 90% & settled in class this week")
    assert answer == {"ok": True}
    teacher = served.state(TEACHER, channel)["messages"]
    police = [m for m in served.state(POLICE, channel)["messages"] if m["ts"] not in seen_before]
    # The update, in the channel, for everyone in it; Tom's command and its answer are his alone.
    assert len(police) == 1 and not police[0]["ephemeral"]
    assert "Attendance back up to 90% &amp; settled" in json.dumps(police[0])
    typed = [m for m in teacher if m["typed"]]
    assert typed[-1]["text"].startswith("/update Attendance back up")
    assert any(m["ephemeral"] and "filed" in m["text"] for m in teacher[-3:])


def test_an_export_arrives_as_files_that_only_its_recipient_can_download(served: Served) -> None:
    case = served.cases()[0]
    assert served.send(case.lead_user_id, case.channel_id or "", "/case export court") == {"ok": True}
    dm = f"D{case.lead_user_id}"
    messages = served.state(case.lead_user_id, dm)["messages"]  # besides, each month's report
    [message] = [m for m in messages if any("-court-" in f["name"] for f in m["files"])]
    pdf, data = message["files"]
    assert "-court-" in pdf["name"] and pdf["name"].endswith(".pdf") and data["name"].endswith(".json")
    query = urlencode({"as": case.lead_user_id, "id": pdf["id"]})
    with urllib.request.urlopen(f"{served.url}/ui/file?{query}", timeout=30) as response:
        assert response.read().startswith(b"%PDF-")
        assert "attachment" in response.headers["Content-Disposition"]
    with pytest.raises(urllib.error.HTTPError) as refused:  # nobody else may download it
        urllib.request.urlopen(
            f"{served.url}/ui/file?{urlencode({'as': TEACHER, 'id': pdf['id']})}", timeout=30
        )
    assert refused.value.code == 404


def test_mentions_and_specials_are_sent_as_slack_sends_them() -> None:
    partnership = load()
    assert (
        as_slack_sends("Call @tom & @nobody <b>", partnership) == "Call <@UTOM|tom> &amp; @nobody &lt;b&gt;"
    )


def test_an_unknown_command_is_answered_with_the_known_ones(served: Served) -> None:
    answer = served.send(COORDINATOR, served.sandbox.general, "/cases list")
    assert answer["ok"] is False
    assert "/cases is not a valid command" in answer["error"] and "/case" in answer["error"]


def test_a_call_slack_refuses_is_shown_not_swallowed(served: Served) -> None:
    served.sandbox.slack.fail("views.open", "expired_trigger_id")
    served.send(COORDINATOR, served.sandbox.general, "/case open")
    refusals = served.state(COORDINATOR, served.sandbox.general)["refusals"]
    assert [(r["method"], r["error"]) for r in refusals][-1] == ("views.open", "expired_trigger_id")


def test_a_form_with_a_mistake_shows_casehubs_inline_error(served: Served) -> None:
    served.send(COORDINATOR, served.sandbox.general, "/case open")
    modal = served.state(COORDINATOR, served.sandbox.general)["modal"]
    assert modal["view"]["callback_id"] == "case_open"
    values = {
        "summary": {"value": {"type": "plain_text_input", "value": "short"}},
        "risk": {"value": {"type": "static_select", "selected_option": {"value": "low"}}},
        "lead": {"value": {"type": "users_select", "selected_user": COORDINATOR}},
        "agencies": {"value": {"type": "multi_static_select", "selected_options": [{"value": "police"}]}},
        "review_weeks": {"value": {"type": "static_select", "selected_option": {"value": "4"}}},
    }
    answer = served.post("/ui/submit", {"as": COORDINATOR, "view_id": modal["id"], "values": values})
    assert answer["ok"] is False and "summary" in answer["errors"]
    again = served.state(COORDINATOR, served.sandbox.general)["modal"]
    assert again["id"] == modal["id"] and "summary" in again["errors"]
    assert len(served.cases()) == 3  # nothing opened
    assert served.post("/ui/close", {"as": COORDINATOR, "view_id": modal["id"]})["ok"]
    assert served.state(COORDINATOR, served.sandbox.general)["modal"] is None


def test_the_checklist_ticks_what_the_trainee_did(served: Served) -> None:
    def done() -> set[str]:
        steps = served.state(TEACHER, "home")["training"]["steps"]
        return {s["id"] for s in steps if s["done"]}

    assert done() == set()
    served.send(TEACHER, first_case_channel(served), "/case timeline")
    served.post("/ui/home", {"as": TEACHER})
    assert done() == {"timeline", "home"}
    served.send(TEACHER, first_case_channel(served), "/update help")  # help is not an update
    assert "update" not in done()


# ---- time -----------------------------------------------------------------------------------------
def test_the_clock_moves_casehubs_scheduler(served: Served) -> None:
    def digests() -> int:
        return served.seen(COORDINATOR, f"D{COORDINATOR}").count("Your casehub digest")

    served.to_a_working_morning()
    before, label = digests(), served.state(COORDINATOR)["now_label"]
    answer = served.post("/ui/clock", {"as": COORDINATOR, "advance": "1d"})
    assert answer["ok"] and answer["now_label"] != label
    assert wait_for(lambda: digests() > before), "no digest after a day"
    assert "time" in {s["id"] for s in served.state(COORDINATOR)["training"]["steps"] if s["done"]}


def test_the_review_nudge_comes_as_the_review_nears(served: Served) -> None:
    channel = first_case_channel(served)
    nudged = "No update since the last review from"
    assert nudged not in served.seen(COORDINATOR, channel)
    served.to_a_working_morning()
    for _ in range(4):  # a weekend may lie between today and the next working day
        served.post("/ui/clock", {"advance": "1d"})
        if wait_for(lambda: nudged in served.seen(COORDINATOR, channel), timeout=5):
            break
    assert nudged in served.seen(COORDINATOR, channel)


def test_reset_goes_back_to_the_seeded_partnership(served: Served) -> None:
    channel = first_case_channel(served)
    served.send(TEACHER, channel, "/update A note made during training")
    served.post("/ui/clock", {"advance": "7d"})
    assert "A note made during training" in served.seen(POLICE, channel)
    assert served.post("/ui/reset", {})["ok"]
    assert "A note made during training" not in served.seen(POLICE, channel)
    assert not [s for s in served.state(TEACHER)["training"]["steps"] if s["done"]]
    assert served.state(TEACHER)["now"][:10] == datetime.now(UTC).date().isoformat()


def test_a_long_poll_waits_for_the_workspace_to_change(served: Served) -> None:
    version = served.state(POLICE, served.sandbox.general)["version"]
    answered: list[dict] = []
    poll = threading.Thread(
        target=lambda: answered.append(served.state(POLICE, served.sandbox.general, since=version))
    )
    poll.start()
    poll.join(timeout=0.5)
    assert poll.is_alive() and not answered  # nothing changed: the poll is held
    served.sandbox.slack.post_as(COORDINATOR, served.sandbox.general, "Morning all")
    poll.join(timeout=5)
    assert answered and answered[0]["version"] > version
    assert "Morning all" in json.dumps(answered[0]["messages"])


def test_nobody_acts_on_what_is_not_theirs(served: Served) -> None:
    channel = first_case_channel(served)
    # A button of a case channel, used by someone outside the case.
    with served.sandbox.slack.lock:
        message = next(
            m
            for m in served.sandbox.slack.messages
            if m["channel"] == channel and "action_done" in json.dumps(m)
        )
    done = {"type": "button", "action_id": "action_done", "value": "2"}
    refused = served.post(
        "/ui/action", {"as": OUTSIDER, "channel": channel, "ts": message["ts"], "action": done}
    )
    assert refused["ok"] is False and "not there" in refused["error"]
    # Another person's ephemeral message: what Tom was told is not Priya's to act on.
    with served.sandbox.slack.lock:
        toms = next(m for m in served.sandbox.slack.messages if m.get("ephemeral_to") == TEACHER)
    answer = served.post(
        "/ui/action", {"as": POLICE, "channel": toms["channel"], "ts": toms["ts"], "action": done}
    )
    assert answer["ok"] is False
    # Another person's form.
    served.send(COORDINATOR, served.sandbox.general, "/case open")
    form = served.state(COORDINATOR, served.sandbox.general)["modal"]["id"]
    for path, body in (
        ("/ui/submit", {"as": POLICE, "view_id": form, "values": {}}),
        ("/ui/close", {"as": POLICE, "view_id": form}),
        ("/ui/options", {"as": POLICE, "view_id": form, "block_id": "agencies", "action_id": "value"}),
    ):
        answer = served.post(path, body)
        assert answer["ok"] is False and "no longer open" in answer["error"], path
    assert served.state(COORDINATOR, served.sandbox.general)["modal"]["id"] == form  # untouched
    # Positive control: the owner of action #2 may use its button.
    with served.sandbox.slack.lock:
        owned = next(
            m
            for m in served.sandbox.slack.messages
            if m["channel"] == channel and '"value": "2"' in json.dumps(m) and "action_done" in json.dumps(m)
        )
    assert served.post("/ui/action", {"as": TEACHER, "channel": channel, "ts": owned["ts"], "action": done})[
        "ok"
    ]


def test_a_malformed_request_is_answered_not_dropped(served: Served) -> None:
    request = urllib.request.Request(
        served.url + "/ui/send",
        data=b"{not json",
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as failed:
        urllib.request.urlopen(request, timeout=10)
    assert failed.value.code == 400 and b"JSON" in failed.value.read()
    with pytest.raises(urllib.error.HTTPError) as unknown:
        served.post("/ui/nowhere", {})
    assert unknown.value.code == 404


# ---- the command -----------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_python_m_bot_sandbox_prints_the_url_and_serves_the_page(tmp_path: Path) -> None:
    port = free_port()
    # Without DATA_KEYS and MATCHING_KEY the sandbox makes keys of its own, kept in its folder.
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DATA_KEY", "MATCHING_KEY"))},
        "PYTHONPATH": str(ROOT),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "sandbox", "--port", str(port), "--trainee", "ana"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if "casehub sandbox ready" in line:
                break
        url = re.search(r"http://127\.0\.0\.1:\d+/", lines[-1])
        assert url and url.group(0) == f"http://127.0.0.1:{port}/", lines
        with urllib.request.urlopen(url.group(0), timeout=10) as page:
            assert b"casehub sandbox" in page.read()
        assert (tmp_path / ".sandbox" / "ana" / "casehub.db").exists()  # a trainee's own sandbox
        for name in ("data-key", "matching-key"):
            key_file = tmp_path / ".sandbox" / "ana" / name
            assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
            assert len(base64.b64decode(key_file.read_text().strip(), validate=True)) == 32
        stored = sqlite3.connect(tmp_path / ".sandbox" / "ana" / "casehub.db")
        try:
            [summary] = stored.execute("SELECT summary FROM cases ORDER BY id LIMIT 1").fetchone()
        finally:
            stored.close()
        assert summary.startswith("v1:sandbox:")  # the seeded partnership's cases, encrypted
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=60)  # read what it still says, so that it never blocks writing
        assert process.returncode == 0


def test_a_taken_port_is_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "bot", "sandbox", "--port", str(port)],
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"cannot serve on 127.0.0.1:{port}" in result.stderr and "--port" in result.stderr


def test_the_quick_start_runs_the_sandbox_when_no_slack_credentials_are_set(tmp_path: Path) -> None:
    dotenv = ROOT / ".env"
    if dotenv.exists() and "SLACK_BOT_TOKEN=xoxb-" in dotenv.read_text().replace("xoxb-your-bot-token", ""):
        pytest.skip("this checkout's .env holds Slack credentials: the quick start would start casehub")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}
    env.update(SANDBOX_PORT=str(port), PYTHONPATH=str(ROOT))
    process = subprocess.Popen(
        ["bash", str(ROOT / "scripts" / "run")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    # Whatever happens, the script is stopped after two minutes (installing may take one).
    watchdog = threading.Timer(120, lambda: os.killpg(process.pid, signal.SIGKILL))
    watchdog.start()
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if "casehub sandbox ready" in line:
                break
        assert any("No Slack credentials" in line for line in lines), lines
        assert f"http://127.0.0.1:{port}/" in lines[-1], lines
    finally:
        watchdog.cancel()
        os.killpg(process.pid, signal.SIGINT)
        process.communicate(timeout=60)
