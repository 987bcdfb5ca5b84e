"""Thin Slack listeners, one module per surface; each has `register(app)`."""

from slack_bolt import App

from handlers import agency_command, case_buttons, case_command, case_modals, membership_events


def register_listeners(app: App) -> None:
    for module in (agency_command, case_command, case_modals, case_buttons, membership_events):
        module.register(app)
