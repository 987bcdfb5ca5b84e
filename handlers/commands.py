"""The one way casehub's slash commands dispatch to their subcommands.

A command's first word names the subcommand; each command module lists its own in a table
(`SUBCOMMANDS`) of functions taking a `Call`. A word the table does not know goes to the
command's `otherwise` (its help, or for `/update` and `/crisis` the free text itself), and no
word at all to the table's "" entry, or else to `otherwise` as well.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from slack_bolt import BoltContext, Respond
from slack_sdk import WebClient

from handlers.common import Deps, deps, request_ref, split_args


@dataclass
class Call:
    """One slash command as its subcommand sees it: who, where, what was typed, how to answer."""

    deps: Deps
    client: WebClient
    respond: Respond
    body: dict[str, Any]
    context: BoltContext
    name: str = field(init=False)
    rest: str = field(init=False)

    def __post_init__(self) -> None:
        words = (self.body.get("text") or "").strip().split(maxsplit=1)
        self.name = words[0].lower() if words else ""
        self.rest = words[1].strip() if len(words) == 2 else ""

    @property
    def user(self) -> str:
        return self.body["user_id"]

    @property
    def channel(self) -> str:
        return self.body["channel_id"]

    @property
    def ref(self) -> str:
        return request_ref(self.body)

    @property
    def text(self) -> str:
        """Everything typed after the command, subcommand included."""
        return (self.body.get("text") or "").strip()

    @cached_property
    def args(self) -> list[str]:
        """The words after the subcommand, a quoted phrase as one. Read only by subcommands
        that take words: free text may hold an apostrophe that is no quote."""
        return split_args(self.rest)

    def say(self, text: str, blocks: list[dict[str, Any]] | None = None) -> None:
        """Answer the person alone, leaving what they see in the channel as it was."""
        self.respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)


Subcommand = Callable[[Call], None]


def dispatch(
    subcommands: Mapping[str, Subcommand],
    otherwise: Subcommand,
    body: dict[str, Any],
    client: WebClient,
    respond: Respond,
    context: BoltContext,
) -> None:
    call = Call(deps(context), client, respond, body, context)
    subcommands.get(call.name, otherwise)(call)
