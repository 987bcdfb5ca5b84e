"""How fast the sandbox feels: the page's load, and a casehub answer appearing after a command.

Starts `python -m bot sandbox` as a person would, opens it in headless Chromium (Debian's, or
CASEHUB_BROWSER) and measures what the person waits for:
- the page: from navigation to the workspace drawn (people, channels and messages shown),
  over fresh page loads;
- an answer: from Enter on `/case status` in a case channel to casehub's answer shown in the
  page, as the coordinator; and from Enter on `/update <note>` to the update posted in the
  channel, as the teacher.

    python benchmarks/sandbox_ui.py [--loads 20] [--commands 40]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.harness import free_port, percentiles  # noqa: E402


def start_sandbox(port: int, directory: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "sandbox", "--port", str(port)],
        cwd=directory,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if "casehub sandbox ready" in line:
            # What it says from now on is read and dropped, so that it never blocks writing.
            threading.Thread(target=process.stdout.read, daemon=True).start()
            return process
    raise SystemExit("the sandbox did not start")


def drawn(page: Any) -> None:
    page.wait_for_selector("[data-testid=persona] option", state="attached")
    page.wait_for_selector("[data-testid=messages] .message, [data-testid=home] *")


def measure_loads(browser: Any, url: str, count: int) -> list[float]:
    seconds = []
    for _ in range(count):
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        started = time.perf_counter()
        page.goto(url + "/#as=USAM&channel=home")
        drawn(page)
        seconds.append(time.perf_counter() - started)
        context.close()
    return seconds


def measure_answers(page: Any, text: str, count: int, answered: str) -> list[float]:
    """Enter pressed to a new message matching `answered` shown, `count` times."""
    seconds = []
    composer = page.locator("[data-testid=composer]")
    shown = page.locator(answered)
    for number in range(count):
        before = shown.count()
        composer.fill(text.format(number=number))
        page.keyboard.press("Escape")
        started = time.perf_counter()
        composer.press("Enter")
        page.wait_for_function(
            "([selector, before]) => document.querySelectorAll(selector).length > before",
            arg=[answered, before],
            polling="raf",
        )
        seconds.append(time.perf_counter() - started)
    return seconds


def report(label: str, seconds: list[float]) -> None:
    median, p99 = percentiles(seconds)  # milliseconds
    slowest = max(seconds) * 1000
    print(f"{label}: n={len(seconds)}  median {median:.0f} ms  p99 {p99:.0f} ms  max {slowest:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--loads", type=int, default=20)
    parser.add_argument("--commands", type=int, default=40)
    args = parser.parse_args()
    browser_path = os.environ.get("CASEHUB_BROWSER") or shutil.which("chromium")
    if not browser_path:
        raise SystemExit("Chromium is needed (Debian: apt install chromium; or set CASEHUB_BROWSER)")
    from playwright.sync_api import sync_playwright

    directory = tempfile.mkdtemp(prefix="casehub-sandbox-bench-")
    port = free_port()
    sandbox = start_sandbox(port, directory)
    url = f"http://127.0.0.1:{port}"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=browser_path)
            report("page load to the workspace drawn", measure_loads(browser, url, args.loads))
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(url + "/#as=USAM&channel=home")
            drawn(page)
            case_channel = page.locator("button[data-channel^='C']").nth(1).get_attribute("data-channel")
            page.goto(f"{url}/#as=USAM&channel={case_channel}")
            page.reload()
            drawn(page)
            answers = measure_answers(
                page, "/case status", args.commands, "[data-testid=messages] .message.ephemeral:not(.typed)"
            )
            report("/case status: Enter to casehub's answer shown", answers)
            page.goto(f"{url}/#as=UTOM&channel={case_channel}")
            page.reload()
            drawn(page)
            updates = measure_answers(
                page,
                "/update Benchmark note {number}: attendance steady this week",
                args.commands,
                "[data-testid=messages] .message:not(.ephemeral):not(.typed)",
            )
            report("/update <note>: Enter to the update posted in the channel", updates)
            browser.close()
    finally:
        sandbox.send_signal(signal.SIGINT)
        sandbox.wait(timeout=30)
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
