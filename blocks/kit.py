"""Block Kit primitives that keep within Slack's published limits by construction."""

from __future__ import annotations

from typing import Any

Block = dict[str, Any]

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
SECTION_TEXT_MAX = 3000
HEADER_TEXT_MAX = 150
BUTTON_TEXT_MAX = 75
BUTTON_VALUE_MAX = 2000
CONTEXT_ELEMENTS_MAX = 10
OPTION_TEXT_MAX = 75
OPTION_VALUE_MAX = 150
OPTIONS_MAX = 100
VIEW_TITLE_MAX = 24
PRIVATE_METADATA_MAX = 3000
FIELD_TEXT_MAX = 2000


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def escape(text: str) -> str:
    """What a person typed, made safe for mrkdwn and a message's `text`: Slack reads `&`, `<`
    and `>` there as control characters, so unescaped `<!channel>`, `<!here>`, `<!everyone>`
    or `<!subteam^…>` would ping everyone, and `<https://…|…>` would make a link.

    Apply it once, where stored text meets casehub's own markup (`<@U…>`, `<#C…>`, `*bold*`),
    never to text already built for Slack. Text is stored as typed, never escaped.
    plain_text objects (headers, buttons, options, input labels and initial values) are left
    alone: Slack neither parses them for mentions nor decodes entities in them, so escaping
    would show `&amp;` to the reader and feed it back into what is stored.
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def plain(text: str, limit: int = SECTION_TEXT_MAX) -> dict[str, Any]:
    return {"type": "plain_text", "text": clip(text, limit), "emoji": True}


def mrkdwn(text: str, limit: int = SECTION_TEXT_MAX) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": clip(text, limit)}


def header(text: str) -> Block:
    return {"type": "header", "text": plain(text, HEADER_TEXT_MAX)}


def section(text: str, *, fields: list[str] | None = None, accessory: Block | None = None) -> Block:
    block: Block = {"type": "section"}
    if text or not fields:
        block["text"] = mrkdwn(text or " ")
    if fields:
        block["fields"] = [mrkdwn(f, FIELD_TEXT_MAX) for f in fields[:10]]
    if accessory:
        block["accessory"] = accessory
    return block


def context(*texts: str) -> Block:
    return {"type": "context", "elements": [mrkdwn(t) for t in texts[:CONTEXT_ELEMENTS_MAX]]}


def divider() -> Block:
    return {"type": "divider"}


def button(
    text: str, action_id: str, value: str = "", *, style: str | None = None, url: str | None = None
) -> Block:
    element: Block = {
        "type": "button",
        "text": plain(text, BUTTON_TEXT_MAX),
        "action_id": action_id,
    }
    if value:
        element["value"] = clip(value, BUTTON_VALUE_MAX)
    if style:
        element["style"] = style
    if url:
        element["url"] = url
    return element


def actions(*elements: Block, block_id: str | None = None) -> Block:
    block: Block = {"type": "actions", "elements": list(elements[:25])}
    if block_id:
        block["block_id"] = block_id
    return block


def option(text: str, value: str) -> Block:
    return {"text": plain(text, OPTION_TEXT_MAX), "value": clip(value, OPTION_VALUE_MAX)}


def fit_message(blocks: list[Block], *, more: str = "…and more not shown") -> list[Block]:
    """Keep a message within 50 blocks, saying so when something was left out."""
    if len(blocks) <= MAX_MESSAGE_BLOCKS:
        return blocks
    return [*blocks[: MAX_MESSAGE_BLOCKS - 1], context(more)]


def input_block(
    block_id: str, label: str, element: Block, *, optional: bool = False, hint: str | None = None
) -> Block:
    block: Block = {
        "type": "input",
        "block_id": block_id,
        "label": plain(label, 2000),
        "element": element,
        "optional": optional,
    }
    if hint:
        block["hint"] = plain(hint, 2000)
    return block


def text_input(
    *,
    max_length: int = 3000,
    multiline: bool = False,
    initial: str | None = None,
    placeholder: str | None = None,
) -> Block:
    element: Block = {
        "type": "plain_text_input",
        "action_id": "value",
        "multiline": multiline,
        "max_length": max_length,
    }
    if initial:
        element["initial_value"] = initial[:max_length]
    if placeholder:
        element["placeholder"] = plain(placeholder, 150)
    return element


def static_select(options: list[Block], initial: str | None = None) -> Block:
    element: Block = {"type": "static_select", "action_id": "value", "options": options[:OPTIONS_MAX]}
    chosen = next((o for o in options if o["value"] == initial), None)
    if chosen:
        element["initial_option"] = chosen
    return element


def multi_static_select(
    options: list[Block], *, initial: list[Block] | None = None, placeholder: str | None = None
) -> Block:
    element: Block = {"type": "multi_static_select", "action_id": "value", "options": options[:OPTIONS_MAX]}
    if initial:
        element["initial_options"] = initial[:OPTIONS_MAX]
    if placeholder:
        element["placeholder"] = plain(placeholder, 150)
    return element


def users_select(initial: str | None = None) -> Block:
    element: Block = {"type": "users_select", "action_id": "value"}
    if initial:
        element["initial_user"] = initial
    return element


def checkbox_input(
    block_id: str, label: str, text: str, *, value: str = "yes", ticked: bool = False
) -> Block:
    choice = {"text": plain(text, OPTION_TEXT_MAX), "value": value}
    element: Block = {"type": "checkboxes", "action_id": "value", "options": [choice]}
    if ticked:
        element["initial_options"] = [choice]
    return input_block(block_id, label, element, optional=True)


def datepicker(initial: str) -> Block:
    return {"type": "datepicker", "action_id": "value", "initial_date": initial}


def form(
    callback_id: str,
    *,
    title: str,
    submit: str,
    blocks: list[Block],
    metadata: str = "",
    close: str = "Cancel",
) -> dict[str, Any]:
    """A modal with inputs; titles and buttons are cut to Slack's 24 characters."""
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": callback_id,
        "title": plain(title, VIEW_TITLE_MAX),
        "submit": plain(submit, VIEW_TITLE_MAX),
        "close": plain(close, VIEW_TITLE_MAX),
        "blocks": blocks,
    }
    if metadata:
        view["private_metadata"] = metadata
    return view
