"""Sending e-mail: TLS from the start (smtps://) or upgraded with STARTTLS (smtp://), never in
clear unless SMTP_ALLOW_PLAINTEXT says so, and the server's certificate always verified."""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage
from urllib.parse import unquote, urlparse

from bot.settings import ConfigurationError, Settings

log = logging.getLogger(__name__)

# Submission with STARTTLS (RFC 6409) and submission over TLS (RFC 8314).
DEFAULT_PORTS = {"smtp": 587, "smtps": 465}


class PlaintextRefused(smtplib.SMTPException):
    """The server offers no STARTTLS and mail in clear was not allowed."""


def _context(settings: Settings) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=settings.smtp_ca_file)


def connect(settings: Settings) -> smtplib.SMTP:
    """An SMTP connection that is encrypted (or plaintext explicitly allowed), logged in."""
    assert settings.smtp_url is not None
    url = urlparse(settings.smtp_url.get_secret_value())
    host, port = url.hostname or "localhost", url.port or DEFAULT_PORTS[url.scheme]
    smtp: smtplib.SMTP
    if url.scheme == "smtps":
        smtp = smtplib.SMTP_SSL(host, port, timeout=10, context=_context(settings))
    else:
        smtp = smtplib.SMTP(host, port, timeout=10)
        try:
            smtp.ehlo()
            if smtp.has_extn("starttls"):
                smtp.starttls(context=_context(settings))
                smtp.ehlo()
            elif not settings.smtp_allow_plaintext:
                raise PlaintextRefused(
                    f"the mail server at {host}:{port} does not offer STARTTLS; nothing was sent"
                )
        except BaseException:
            smtp.close()
            raise
    if url.username:
        try:
            smtp.login(unquote(url.username), unquote(url.password or ""))
        except BaseException:
            smtp.close()
            raise
    return smtp


def send(settings: Settings, to: str, subject: str, body: str) -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = settings.smtp_from, to, subject
    message.set_content(body)
    with connect(settings) as smtp:
        smtp.send_message(message)


def check_at_start(settings: Settings) -> None:
    """Refuse to start when page copies could only go unencrypted or to an unverified server.

    A server that cannot be reached now is not a reason to stop crisis paging in Slack: that is
    logged, and each page tries again.
    """
    if settings.smtp_url is None:
        return
    try:
        with connect(settings) as smtp:
            smtp.noop()
    except PlaintextRefused:
        raise ConfigurationError(
            "casehub cannot start: the mail server in SMTP_URL does not offer STARTTLS, so page "
            "copies would be sent unencrypted; use smtps://, or set SMTP_ALLOW_PLAINTEXT=true to allow it"
        ) from None
    except ssl.SSLCertVerificationError as error:
        raise ConfigurationError(
            f"casehub cannot start: the certificate of the mail server in SMTP_URL could not be "
            f"verified ({error.verify_message}); set SMTP_CA_FILE to the authority that signed it"
        ) from None
    except (OSError, smtplib.SMTPException) as error:
        log.warning(
            "the mail server in SMTP_URL could not be reached at start (%s); page copies will be "
            "tried with each page",
            type(error).__name__,
        )
