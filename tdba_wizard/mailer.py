"""The e-mailed nightly report (stdlib smtplib, timeouts, TLS verified)."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

from tdba_wizard.config import ScheduleSettings, SmtpSettings
from tdba_wizard.errors import TdbaError
from tdba_wizard.secrets import SecretError, SecretStore

SMTP_TIMEOUT = 30.0
LOCAL_RELAY = SmtpSettings(host="localhost", port=25, security="none")


class MailError(TdbaError):
    """The report could not be e-mailed."""

    title = "Compte rendu non envoyé"


def send_report(settings: ScheduleSettings, store: SecretStore, subject: str, text: str) -> None:
    """E-mail ``text`` to ``settings.report_to`` (the local relay when no SMTP is set)."""
    if settings.report_to is None:
        return
    smtp = settings.smtp or LOCAL_RELAY
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = smtp.sender or settings.report_to
    message["To"] = settings.report_to
    message.set_content(text)
    where = f"{smtp.host}:{smtp.port}"
    try:
        password = (
            store.get_smtp_password(smtp.username, smtp.host).value if smtp.username else None
        )
        context = ssl.create_default_context()
        client: smtplib.SMTP
        if smtp.security == "ssl":
            client = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=SMTP_TIMEOUT, context=context)
        else:
            client = smtplib.SMTP(smtp.host, smtp.port, timeout=SMTP_TIMEOUT)
        with client:
            if smtp.security == "starttls":
                client.starttls(context=context)
            if smtp.username and password is not None:
                client.login(smtp.username, password)
            client.send_message(message)
    except SecretError as error:
        raise MailError(error.message) from None
    except smtplib.SMTPAuthenticationError:
        raise MailError(
            f"Le serveur de messagerie {where} refuse l'identifiant ou le mot de passe SMTP."
        ) from None
    except (smtplib.SMTPException, OSError) as error:
        raise MailError(
            f"Envoi du compte rendu impossible via {where} ({type(error).__name__}) : vérifiez "
            "la section [schedule.smtp] de la configuration."
        ) from None
