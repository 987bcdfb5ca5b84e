"""Configuration, read once from the environment and an optional `.env` file."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import time
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from bot.db import check_url
from models.encryption import KEY_BYTES
from models.update import Disclosure
from services.worktime import holiday_calendar

_CHANNEL_PREFIX = re.compile(r"^[a-z0-9][a-z0-9_-]{0,40}$")
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_BASIS_KEY = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Slack's token prefixes, to say which kind of token was given where another was expected.
_TOKEN_KINDS = {
    "xoxb-": "a bot token (xoxb-…)",
    "xoxp-": "a user token (xoxp-…)",
    "xapp-": "an app-level token (xapp-…)",
    "xoxe": "an expiring token from token rotation (xoxe…)",
}
_EXPECTED_TOKENS = {
    "slack_bot_token": (
        "xoxb-",
        "the Bot User OAuth Token (xoxb-…) from the app's OAuth & Permissions page",
    ),
    "slack_app_token": (
        "xapp-",
        "an app-level token (xapp-…) with connections:write, from the app's Basic Information page",
    ),
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    slack_bot_token: SecretStr
    # Checks that HTTP requests come from Slack; Socket Mode (SLACK_APP_TOKEN) needs none.
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    # Socket Mode: how many connections each `socket` process keeps open (Slack allows 10 an app,
    # and spreads what it delivers over them).
    socket_connections: int = Field(default=2, ge=1, le=10)
    database_url: str = "sqlite:///casehub.db"
    slack_api_url: str = "https://slack.com/api/"
    # The record desk (`/desk`): Sign in with Slack, with the app's OAuth credentials; the desk is
    # served only when both are set, with DESK_SECRET_KEY signing its session cookies.
    slack_client_id: str | None = None
    slack_client_secret: SecretStr | None = None
    slack_openid_url: str = "https://slack.com"
    slack_team_id: str | None = None  # when set, only this workspace's people sign in
    desk_secret_key: SecretStr | None = None
    # Where people reach the desk, as their browser sees it (behind TLS in production):
    # decides the sign-in's return address, Secure cookies and HSTS.
    desk_url: str | None = None
    desk_idle_minutes: int = Field(default=30, ge=1, le=480)
    port: int = Field(default=3000, ge=1, le=65535)
    casehub_admins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    case_channel_prefix: str = "case"
    strict_membership: bool = False
    # The job queue: threads of each web process that do the work after Slack's answer (0: none,
    # leave it to `python -m bot worker` processes), besides one kept for opening forms.
    job_threads: int = Field(default=4, ge=0, le=64)
    # A job whose worker stops renewing this lease is taken again by another worker.
    job_lease_seconds: float = Field(default=60.0, ge=0.5, le=3600)
    # A job that fails for a reason that may pass (Slack or the database unavailable) is tried
    # again after JOB_RETRY_SECONDS, doubling each time up to five minutes, and parked after
    # JOB_MAX_ATTEMPTS attempts; the admins are told.
    job_max_attempts: int = Field(default=8, ge=1, le=100)
    job_retry_seconds: float = Field(default=2.0, ge=0.01, le=300)
    # How often idle workers look for jobs recorded by other processes.
    job_poll_seconds: float = Field(default=0.5, ge=0.01, le=60)
    default_timezone: str = "Europe/London"
    working_hours_start: time = time(8, 0)
    working_hours_end: time = time(18, 0)
    working_days: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["mon", "tue", "wed", "thu", "fri"]
    )
    # Bank holidays that are no working days: a code of the `holidays` package (GB-ENG, FR, …).
    # These and the settings around them are the defaults of every area that sets none itself.
    holidays: str | None = None
    review_every_weeks: int = Field(default=4, ge=1, le=52)
    review_nudge_working_days: int = Field(default=3, ge=0, le=20)
    digest_time: time = time(8, 30)
    update_edit_minutes: int = Field(default=30, ge=1, le=24 * 60)
    # Crisis alerts: what every alert says first, how long a page waits for an answer.
    emergency_notice: str = (
        "Immediate danger to life? Call 999 (112 in Europe, 17 in France) now. "
        "casehub is not an emergency service."
    )
    crisis_ack_minutes: int = Field(default=10, ge=1, le=240)
    early_review_working_days: int = Field(default=2, ge=0, le=20)
    # smtp://user:password@host:port upgrades with STARTTLS; smtps://… is TLS from the start.
    # Mail in clear only when explicitly allowed (declared first: SMTP_URL's check reads it).
    smtp_allow_plaintext: bool = False
    smtp_url: SecretStr | None = None
    smtp_from: str = "casehub@localhost"
    # Certificate authorities for the mail server (PEM); unset: the system's.
    smtp_ca_file: str | None = None
    # Page copies carry no free text unless this says so: they leave the partnership's systems.
    smtp_include_summary: bool = False
    # bolt and slack-sdk log request and response bodies at DEBUG: what people typed.
    log_slack_requests: bool = False
    # One JSON object a line, for a log collector. Logging is set up from LOG_FORMAT before the
    # settings are read; declared here so that a wrong value stops start-up with a clear message.
    log_format: Literal["text", "json"] = "text"
    # Purposes and lawful bases of disclosures, by key (the first is the default), and which
    # one each kind of disclosure records; both are stored by key and shown by label.
    sharing_bases: dict[str, str] = Field(
        default_factory=lambda: {
            "safeguarding": "Safeguarding, under the partnership's information-sharing agreement"
        }
    )
    sharing_basis_for: dict[str, str] = Field(default_factory=dict)
    # Data protection officers: told of the audit chain's state and its checkpoints; they
    # administer the record without seeing case content.
    casehub_dpos: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # The keys that seal the audit trail and the sharing log (services.chain), by id; new entries
    # take AUDIT_KEY_ID, or the last one listed. Old keys stay listed to verify older entries.
    audit_keys: dict[str, SecretStr] = Field(default_factory=dict)
    audit_key_id: str | None = None
    # Where the daily check of the chains appends their checkpoint (outside the database).
    audit_checkpoint_file: str = "audit-checkpoints.jsonl"
    audit_verify_time: time = time(2, 30)  # UTC
    # The keys that encrypt what people typed (models.encryption), by id: each 32 random bytes
    # in base64. New values take DATA_KEY_ID, or the last one listed; the others stay listed
    # until `python -m bot keys rotate` has left nothing under them.
    data_keys: dict[str, SecretStr] = Field(default_factory=dict)
    data_key_id: str | None = None
    # The key of the blind index that finds repeat referrals (services.identity_index): 32
    # random bytes in base64. Apart from DATA_KEYS: rotating those leaves the index as it is.
    matching_key: SecretStr | None = None
    # Retention of what casehub keeps only to deliver: the text of a message it has sent (its
    # key stays, so it is never sent twice) and the keys of Slack deliveries it has processed.
    retention_outbox_days: int = Field(default=30, ge=1, le=3650)
    retention_deliveries_days: int = Field(default=30, ge=1, le=3650)
    # A case's record is kept this long after its exit (or its closure, if it never reached
    # exit); a referral closed at screening, with no further action, for the shorter time.
    retention_case_years: int = Field(default=6, ge=1, le=100)
    retention_screened_out_months: int = Field(default=36, ge=1, le=1200)
    retention_warning_days: int = Field(default=30, ge=1, le=365)
    retention_time: time = time(3, 0)  # UTC: the nightly retention pass
    # A TrueType font with the characters people type, for exports' PDFs (its bold face is looked
    # for beside it as NAME-Bold.ttf); unset: DejaVu Sans where the system keeps it.
    export_font: str | None = None
    # Evaluation reports (services.reports): a count from 1 to one less than this is withheld
    # and shown as "fewer than N", with further cells withheld so that none can be worked out.
    report_suppress_below: int = Field(default=5, ge=2, le=100)
    # Each area's coordinators get last month's report on the first working day of the month.
    report_monthly: bool = True

    @field_validator("casehub_admins", "casehub_dpos", mode="before")
    @classmethod
    def _split_admins(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.replace(" ", ",").split(",") if part.strip()]
        return value

    @field_validator("working_days", mode="before")
    @classmethod
    def _split_days(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip().lower()[:3] for part in value.split(",") if part.strip()]
        if isinstance(value, list):
            unknown = [day for day in value if day not in _WEEKDAYS]
            if unknown:
                raise ValueError(f"unknown weekday {unknown[0]!r}; use mon,tue,wed,thu,fri,sat,sun")
        return value

    @field_validator("holidays")
    @classmethod
    def _check_holidays(cls, value: str | None) -> str | None:
        if not value:
            return None
        holiday_calendar(value)
        return value.strip().upper()

    @field_validator("case_channel_prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        if not _CHANNEL_PREFIX.match(value):
            raise ValueError(
                "must be 1-41 lowercase letters, digits, '-' or '_', starting with a letter or digit"
            )
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _slash_terminated(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        check_url(value)
        return value

    @field_validator("default_timezone")
    @classmethod
    def _check_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise ValueError(
                f"{value!r} is not a time zone; use an IANA name such as Europe/London"
            ) from None
        return value

    @field_validator("smtp_url")
    @classmethod
    def _check_mail_url(cls, value: SecretStr | None) -> SecretStr | None:
        # The messages never repeat the URL: it may carry the mail account's password.
        if value is None:
            return value
        forms = "use smtp://user:password@host:port (STARTTLS) or smtps://… (TLS)"
        try:
            url = urlparse(value.get_secret_value())
        except ValueError:
            raise ValueError(f"it is not a URL; {forms}") from None
        if url.scheme not in ("smtp", "smtps"):
            raise ValueError(f"the scheme must be smtp or smtps; {forms}")
        if not url.hostname:
            raise ValueError(f"name the mail server; {forms}")
        try:
            port = url.port
        except ValueError:
            port = 0
        if port == 0:
            raise ValueError(f"the port must be a number from 1 to 65535; {forms}")
        return value

    @field_validator("smtp_ca_file", "export_font")
    @classmethod
    def _file_exists(cls, value: str | None) -> str | None:
        if value is not None and not Path(value).is_file():
            raise ValueError("no such file")
        return value

    @field_validator("sharing_bases")
    @classmethod
    def _check_bases(cls, value: dict[str, str]) -> dict[str, str]:
        if not value:
            raise ValueError("name at least one purpose and lawful basis")
        for key, label in value.items():
            if not _BASIS_KEY.match(key):
                raise ValueError(f"{key!r} is not a key: 1-32 lowercase letters, digits or '-'")
            if not 0 < len(label.strip()) <= 200:
                raise ValueError(f"the label of {key!r} must be 1-200 characters")
        return value

    @field_validator("sharing_basis_for")
    @classmethod
    def _check_basis_choices(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        known = info.data.get("sharing_bases") or {}
        for disclosure, key in value.items():
            if disclosure not in Disclosure.__members__.values():
                kinds = ", ".join(d.value for d in Disclosure)
                raise ValueError(f"{disclosure!r} is not a kind of disclosure ({kinds})")
            if key not in known:
                raise ValueError(f"{key!r} is not one of SHARING_BASES")
        return value

    @field_validator("audit_keys")
    @classmethod
    def _check_audit_keys(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for key_id, secret in value.items():
            if not _KEY_ID.match(key_id):
                raise ValueError(f"{key_id!r} is not a key id: 1-32 letters, digits, '-' or '_'")
            if len(secret.get_secret_value()) < 32:
                raise ValueError(f"the key {key_id!r} is too short: use 32 characters or more, at random")
        return value

    @field_validator("data_keys")
    @classmethod
    def _check_data_keys(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        # The messages name the key's id, never the key.
        for key_id, secret in value.items():
            if not is_key_id(key_id):
                raise ValueError(f"{key_id!r} is not a key id: 1-32 letters, digits, '-' or '_'")
            data_key(key_id, secret)
        return value

    @field_validator("matching_key")
    @classmethod
    def _check_matching_key(cls, value: SecretStr | None) -> SecretStr | None:
        # The message never repeats the key.
        if value is not None:
            matching_key(value)
        return value

    @field_validator("data_key_id")
    @classmethod
    def _check_data_key_id(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and value not in (info.data.get("data_keys") or {}):
            raise ValueError(f"{value!r} is not one of DATA_KEYS")
        return value

    @field_validator("audit_checkpoint_file")
    @classmethod
    def _absolute_checkpoints(cls, value: str) -> str:
        # One file for every process started in the same place (the scheduler's, the command's).
        return str(Path(value).expanduser().resolve())

    @field_validator("audit_key_id")
    @classmethod
    def _check_audit_key_id(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and value not in (info.data.get("audit_keys") or {}):
            raise ValueError(f"{value!r} is not one of AUDIT_KEYS")
        return value

    @model_validator(mode="after")
    def _signed_or_socket(self) -> Settings:
        if self.slack_signing_secret is None and self.slack_app_token is None:
            raise ValueError(
                "SLACK_SIGNING_SECRET is not set (put it in the environment or in .env): HTTP needs "
                "it; Socket Mode, with SLACK_APP_TOKEN set, does not"
            )
        return self

    def signing_secret(self) -> str:
        """The signing secret HTTP requests are checked with; refused at start when unset."""
        if self.slack_signing_secret is None:
            raise ConfigurationError(
                "casehub cannot start: SLACK_SIGNING_SECRET is not set (put it in the environment or "
                "in .env): serving HTTP needs it; without it, run `python -m bot socket`"
            )
        return self.slack_signing_secret.get_secret_value()

    def audit_keyring(self) -> tuple[dict[str, str], str | None]:
        """The audit keys by id, and the one new entries are sealed with."""
        return {k: v.get_secret_value() for k, v in self.audit_keys.items()}, self.audit_key_id

    def data_keyring(self) -> tuple[dict[str, bytes], str | None]:
        """The data keys by id, and the one new values are encrypted with."""
        keys = {k: data_key(k, v) for k, v in self.data_keys.items()}
        return keys, self.data_key_id or (list(keys)[-1] if keys else None)

    def matching_key_bytes(self) -> bytes | None:
        """The blind index's key, or None when MATCHING_KEY is not set."""
        return None if self.matching_key is None else matching_key(self.matching_key)

    def sharing_basis(self, disclosure: Disclosure) -> str:
        """The key of the purpose and lawful basis recorded for this kind of disclosure."""
        return self.sharing_basis_for.get(disclosure.value, next(iter(self.sharing_bases)))

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None

    @property
    def working_weekdays(self) -> set[int]:
        return {_WEEKDAYS.index(day) for day in self.working_days}

    def is_admin(self, user_id: str) -> bool:
        return user_id in self.casehub_admins


class ConfigurationError(Exception):
    """Raised at start-up with a message fit to print instead of a traceback."""


def load_settings(**overrides: object) -> Settings:
    """The settings, every problem with them said in one line.

    Slack's tokens are checked here rather than on the model: a command that needs no Slack
    passes placeholders for them, and tests build settings with tokens of their own.
    """
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except SettingsError as exc:
        # A setting read as JSON (DATA_KEYS, AUDIT_KEYS, SHARING_BASES…) that is not JSON: the
        # error names the field, and never its value.
        named = re.search(r'field "([a-z_]+)"', str(exc))
        name = named.group(1).upper() if named else "a setting read as JSON"
        raise ConfigurationError(
            f'casehub cannot start: {name} is invalid: it is not JSON; write an object such as {{"id": "…"}}'
        ) from None
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = str(error["loc"][0]).upper() if error["loc"] else "settings"
            if error["type"] == "missing":
                problems.append(f"{name} is not set (put it in the environment or in .env)")
            elif error["type"] == "value_error" and not error["loc"]:  # of the settings together
                problems.append(str(error["ctx"]["error"]))
            elif error["type"] == "value_error":
                problems.append(f"{name} is invalid: {error['ctx']['error']}")
            else:
                problems.append(f"{name} is invalid: {error['msg']}")
        raise ConfigurationError("casehub cannot start: " + "; ".join(problems)) from None
    problems = [
        problem
        for field in _EXPECTED_TOKENS
        if field not in overrides and (problem := token_problem(field, getattr(settings, field)))
    ]
    if problems:
        raise ConfigurationError("casehub cannot start: " + "; ".join(problems))
    return settings


def is_key_id(key_id: str) -> bool:
    """1-32 letters, digits, '-' or '_': what an id of AUDIT_KEYS or DATA_KEYS may be."""
    return bool(_KEY_ID.fullmatch(key_id))


def data_key(key_id: str, secret: SecretStr) -> bytes:
    """A data key's 32 bytes, from its base64; a `ValueError` naming its id if it is not one."""
    try:
        key = base64.b64decode(secret.get_secret_value().strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(
            f"the key {key_id!r} is not base64; make one with `python -m bot keys new`"
        ) from None
    if len(key) != KEY_BYTES:
        raise ValueError(
            f"the key {key_id!r} is {len(key)} bytes, not {KEY_BYTES}; make one with `python -m bot keys new`"
        )
    return key


def matching_key(secret: SecretStr) -> bytes:
    """The matching key's 32 bytes, from its base64; a `ValueError` saying what is wrong (never
    the key) if it is not one."""
    try:
        key = base64.b64decode(secret.get_secret_value().strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("it is not base64; make one with `python -m bot keys new --matching`") from None
    if len(key) != KEY_BYTES:
        raise ValueError(
            f"it is {len(key)} bytes, not {KEY_BYTES}; make one with `python -m bot keys new --matching`"
        )
    return key


def token_problem(field: str, token: SecretStr | None) -> str | None:
    """What is wrong with a Slack token, naming its kind and never its value."""
    prefix, wanted = _EXPECTED_TOKENS[field]
    if token is None or token.get_secret_value().startswith(prefix):
        return None
    value = token.get_secret_value()
    given = next((kind for start, kind in _TOKEN_KINDS.items() if value.startswith(start)), None)
    said = f"this is {given}" if given else "this is not a Slack token"
    return f"{field.upper()} is invalid: {said}; it takes {wanted}"
