"""Block Kit validation as Slack applies it, returning Slack-style error strings."""

from __future__ import annotations

import re
from typing import Any

LIMITS = {"message": 50, "modal": 100, "home": 100}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME = re.compile(r"^\d{2}:\d{2}$")
_ALLOWED = {
    "message": {"section", "header", "context", "divider", "actions", "image", "rich_text"},
    "modal": {"section", "header", "context", "divider", "actions", "image", "input", "rich_text"},
    "home": {"section", "header", "context", "divider", "actions", "image", "input", "rich_text"},
}
_SELECTS = {
    "static_select",
    "multi_static_select",
    "external_select",
    "multi_external_select",
    "users_select",
    "multi_users_select",
    "conversations_select",
    "channels_select",
    "multi_conversations_select",
    "overflow",
    "radio_buttons",
    "checkboxes",
}


class Errors(list[str]):
    def add(self, message: str, pointer: str) -> None:
        self.append(f"[ERROR] {message} [json-pointer:{pointer}]")

    def text(self, obj: Any, pointer: str, limit: int, *, kind: str | None = None) -> None:
        if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
            self.add("must provide an object with a text string", pointer)
            return
        if kind and obj.get("type") != kind:
            self.add(f"must be a {kind} text object", pointer + "/type")
        if obj.get("type") not in ("plain_text", "mrkdwn"):
            self.add("must be plain_text or mrkdwn", pointer + "/type")
        if not obj["text"]:
            self.add("must be more than 0 characters", pointer + "/text")
        if len(obj["text"]) > limit:
            self.add(f"must be less than {limit + 1} characters", pointer + "/text")


def validate(blocks: Any, surface: str) -> list[str]:
    errors = Errors()
    if not isinstance(blocks, list):
        errors.add("must be an array", "/blocks")
        return errors
    if len(blocks) > LIMITS[surface]:
        errors.add(f"no more than {LIMITS[surface]} items allowed", "/blocks")
    block_ids: set[str] = set()
    action_ids: set[str] = set()
    for i, block in enumerate(blocks):
        _block(block, f"/blocks/{i}", surface, errors, block_ids, action_ids)
    return errors


def _id(value: Any, pointer: str, seen: set[str], errors: Errors) -> None:
    if value is None:
        return
    if not isinstance(value, str) or len(value) > 255:
        errors.add("must be a string of at most 255 characters", pointer)
    elif value in seen:
        errors.add(f"duplicate id {value!r}", pointer)
    else:
        seen.add(value)


def _block(
    block: Any, p: str, surface: str, errors: Errors, block_ids: set[str], action_ids: set[str]
) -> None:
    if not isinstance(block, dict) or block.get("type") not in _ALLOWED[surface]:
        errors.add(f"unsupported block type for {surface}", p + "/type")
        return
    _id(block.get("block_id"), p + "/block_id", block_ids, errors)
    kind = block["type"]
    if kind == "section":
        if "text" not in block and "fields" not in block:
            errors.add("must provide text or fields", p)
        if "text" in block:
            errors.text(block["text"], p + "/text", 3000)
        fields = block.get("fields", [])
        if len(fields) > 10:
            errors.add("no more than 10 items allowed", p + "/fields")
        for j, field in enumerate(fields):
            errors.text(field, f"{p}/fields/{j}", 2000)
        if "accessory" in block:
            _element(block["accessory"], p + "/accessory", errors, action_ids)
    elif kind == "header":
        errors.text(block.get("text"), p + "/text", 150, kind="plain_text")
    elif kind == "context":
        elements = block.get("elements", [])
        if not elements or len(elements) > 10:
            errors.add("must have 1 to 10 elements", p + "/elements")
        for j, element in enumerate(elements):
            if element.get("type") in ("plain_text", "mrkdwn"):
                errors.text(element, f"{p}/elements/{j}", 3000)
    elif kind == "actions":
        elements = block.get("elements", [])
        if not elements or len(elements) > 25:
            errors.add("must have 1 to 25 elements", p + "/elements")
        for j, element in enumerate(elements):
            _element(element, f"{p}/elements/{j}", errors, action_ids)
    elif kind == "input":
        errors.text(block.get("label"), p + "/label", 2000, kind="plain_text")
        if "hint" in block:
            errors.text(block["hint"], p + "/hint", 2000, kind="plain_text")
        _element(block.get("element"), p + "/element", errors, action_ids, in_input=True)


def _element(element: Any, p: str, errors: Errors, action_ids: set[str], *, in_input: bool = False) -> None:
    if not isinstance(element, dict) or "type" not in element:
        errors.add("must be an element object", p)
        return
    kind = element["type"]
    if not in_input:
        _id(element.get("action_id"), p + "/action_id", action_ids, errors)
    elif len(element.get("action_id", "")) > 255:
        errors.add("must be less than 256 characters", p + "/action_id")
    if kind == "button":
        errors.text(element.get("text"), p + "/text", 75, kind="plain_text")
        if len(element.get("value", "")) > 2000:
            errors.add("must be less than 2001 characters", p + "/value")
        if element.get("style") not in (None, "primary", "danger"):
            errors.add("must be primary or danger", p + "/style")
    elif kind == "plain_text_input":
        max_length = element.get("max_length", 3000)
        if not 1 <= max_length <= 3000:
            errors.add("must be between 1 and 3000", p + "/max_length")
        if len(element.get("initial_value", "")) > max_length:
            errors.add("initial_value longer than max_length", p + "/initial_value")
    elif kind == "datepicker":
        if "initial_date" in element and not _DATE.match(element["initial_date"]):
            errors.add("must be YYYY-MM-DD", p + "/initial_date")
    elif kind == "timepicker":
        if "initial_time" in element and not _TIME.match(element["initial_time"]):
            errors.add("must be HH:mm", p + "/initial_time")
    elif kind in _SELECTS:
        options = element.get("options", [])
        if (
            kind in ("static_select", "multi_static_select")
            and not options
            and not element.get("option_groups")
        ):
            errors.add("must provide options or option_groups", p)
        if len(options) > 100:
            errors.add("no more than 100 items allowed", p + "/options")
        values = set()
        for j, option in enumerate(options):
            errors.text(option.get("text"), f"{p}/options/{j}/text", 75)
            value = option.get("value", "")
            if len(value) > 150:
                errors.add("must be less than 151 characters", f"{p}/options/{j}/value")
            if value in values:
                errors.add("duplicate option value", f"{p}/options/{j}/value")
            values.add(value)
    elif kind not in ("image", "checkboxes", "overflow"):
        errors.add(f"unsupported element type {kind}", p + "/type")


def validate_view(view: Any) -> list[str]:
    errors = Errors()
    if not isinstance(view, dict) or view.get("type") not in ("modal", "home"):
        errors.add("must be a modal or home view", "/view/type")
        return errors
    if view["type"] == "modal":
        errors.text(view.get("title"), "/view/title", 24, kind="plain_text")
        for key in ("submit", "close"):
            if key in view:
                errors.text(view[key], f"/view/{key}", 24, kind="plain_text")
        has_input = any(b.get("type") == "input" for b in view.get("blocks", []))
        if has_input and "submit" not in view:
            errors.add("a view with input blocks needs submit", "/view/submit")
    if len(view.get("callback_id", "")) > 255:
        errors.add("must be less than 256 characters", "/view/callback_id")
    if len(view.get("private_metadata", "")) > 3000:
        errors.add("must be less than 3001 characters", "/view/private_metadata")
    errors.extend(validate(view.get("blocks", []), view["type"]))
    return errors
