"""Thin Slack listeners, one module per surface; each has `register(app)`."""

from slack_bolt import App

from handlers import (
    action_buttons,
    action_command,
    action_forms,
    agency_command,
    area_command,
    case_buttons,
    case_command,
    case_modals,
    crisis_command,
    digest_command,
    home_tab,
    lesson_command,
    membership_events,
    oncall_command,
    refer_command,
    referral_buttons,
    report_command,
    review_command,
    transfers,
    update_buttons,
    update_command,
    update_form,
)

SURFACES = (
    agency_command,
    area_command,
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
    review_command,
    digest_command,
    oncall_command,
    crisis_command,
    transfers,
    refer_command,
    referral_buttons,
    lesson_command,
    report_command,
)


def register_listeners(app: App) -> None:
    for module in SURFACES:
        module.register(app)
