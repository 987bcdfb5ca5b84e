"""Thin Slack listeners, one module per surface; each has `register(app)`."""

from slack_bolt import App

from handlers import (
    agency_command,
    case_buttons,
    case_command,
    case_modals,
    membership_events,
    update_buttons,
    update_command,
    update_form,
)

SURFACES = (
    agency_command,
    case_command,
    case_modals,
    case_buttons,
    membership_events,
    update_command,
    update_form,
    update_buttons,
)


def register_listeners(app: App) -> None:
    for module in SURFACES:
        module.register(app)
