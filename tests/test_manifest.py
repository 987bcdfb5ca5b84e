"""The manifest declares every slash command and event the handlers listen to."""

import re
from pathlib import Path

import yaml

from handlers import SURFACES

ROOT = Path(__file__).resolve().parent.parent


def registered(kind: str) -> set[str]:
    found: set[str] = set()
    for module in SURFACES:
        found.update(re.findall(rf'app\.{kind}\("([^"]+)"\)', Path(module.__file__).read_text()))
    return found


def test_every_registered_command_and_event_is_in_the_manifest():
    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text())
    assert registered("command") == {c["command"] for c in manifest["features"]["slash_commands"]}
    assert registered("event") == set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert all(c["should_escape"] for c in manifest["features"]["slash_commands"])
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"commands", "chat:write", "groups:write", "groups:read", "pins:write", "users:read"} <= scopes


def test_the_socket_mode_manifest_is_the_same_app_without_addresses():
    """manifest-socket.yml differs from manifest.yml only where Socket Mode needs it to."""
    http = yaml.safe_load((ROOT / "manifest.yml").read_text())
    socket = yaml.safe_load((ROOT / "manifest-socket.yml").read_text())
    assert http["settings"]["socket_mode_enabled"] is False
    assert socket["settings"]["socket_mode_enabled"] is True
    for command in http["features"]["slash_commands"]:
        assert command.pop("url").endswith("/slack/events")
    assert http["settings"]["event_subscriptions"].pop("request_url").endswith("/slack/events")
    for address in ("request_url", "message_menu_options_url"):
        assert http["settings"]["interactivity"].pop(address).endswith("/slack/events")
    http["settings"]["socket_mode_enabled"] = True
    assert socket == http
    assert "/slack/events" not in (ROOT / "manifest-socket.yml").read_text()
