"""The few refusals casehub gives, each carrying what went wrong and how to do it right."""

from __future__ import annotations


class CasehubError(Exception):
    """A refusal to show the user; nothing has been changed when it is raised.

    `message` and `hint` are Slack mrkdwn (backticks, `<@U…>`): stored text a person typed
    (an agency's name, an action, a summary) goes into them escaped (`blocks.kit.escape`).
    """

    def __init__(self, message: str, *, hint: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        # The modal input this refers to, for inline errors (`response_action: errors`).
        self.field = field

    def __str__(self) -> str:
        return f"{self.message} {self.hint}" if self.hint else self.message


class InvalidInput(CasehubError):
    pass


class NotFound(CasehubError):
    pass


class NotAllowed(CasehubError):
    pass


class Conflict(CasehubError):
    pass


class NotACaseChannel(CasehubError):
    def __init__(self, command: str) -> None:
        super().__init__(
            f"`{command}` works only in a case channel.",
            hint="Run it in the private channel of the case (its name starts with the case prefix), "
            "or use `/case list` to find your cases.",
        )


class CaseClosed(CasehubError):
    pass
