"""Thin Slack listeners, one module per surface; each has `register(app)`."""

from slack_bolt import App

from handlers import (
    action_buttons,
    action_command,
    action_forms,
    agency_command,
    case_buttons,
    case_command,
    case_modals,
    home_tab,
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
    action_command,
    action_forms,
    action_buttons,
    home_tab,
)


def register_listeners(app: App) -> None:
    for module in SURFACES:
        module.register(app)
