"""E-mail through the configured SMTP server (DESK_SMTP_*); off when DESK_SMTP_HOST is empty."""
import smtplib
from email.message import EmailMessage

from flask import current_app


def mail_enabled() -> bool:
    return bool(current_app.config.get("SMTP_HOST"))


def send_mail(to: list[str], subject: str, text: str, html: str | None = None) -> bool:
    """Send one message; False when SMTP is not configured. SMTP errors propagate (jobs retry)."""
    config = current_app.config
    if not config.get("SMTP_HOST") or not to:
        return False
    message = EmailMessage()
    message["From"] = config["MAIL_FROM"]
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message.set_content(text)
    if html:
        message.add_alternative(html, subtype="html")
    with smtplib.SMTP(config["SMTP_HOST"], int(config["SMTP_PORT"]), timeout=10) as smtp:
        if config.get("SMTP_STARTTLS"):
            smtp.starttls()
        if config.get("SMTP_USER"):
            smtp.login(config["SMTP_USER"], config["SMTP_PASSWORD"])
        smtp.send_message(message)
    return True
