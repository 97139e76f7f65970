"""A customer's e-mail address and phone number as the desk stores and matches them: e-mail in
lower case, phone as E.164 ("+34600111222"), so equality is a match and an index finds it."""
import re

import phonenumbers
from flask import current_app

from desk.core.errors import DeskError
from desk.core.texts import gettext_or_plain as _

_EMAIL = re.compile(r"^[^@\s<>\"']{1,64}@[^@\s<>\"']+\.[^@\s<>\"']{2,}$")


def clean_email(value: str | None) -> str | None:
    """An e-mail address in lower case, None when blank; DeskError when it is not one."""
    value = (value or "").strip().lower()
    if not value:
        return None
    if len(value) > 254 or not _EMAIL.match(value):
        raise DeskError(_("%(value)s is not an e-mail address.", value=value[:60]))
    return value


def clean_phone(value: str | None, region: str | None = None) -> str | None:
    """A phone number as E.164 ("+34600111222"), None when blank; numbers without a country
    code are read in `region` (PHONE_REGION); DeskError when it is not a possible number."""
    value = (value or "").strip()
    if not value:
        return None
    region = region or current_app.config.get("PHONE_REGION", "ES")
    try:
        number = phonenumbers.parse(value[:40], region)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_possible_number(number):
        raise DeskError(_("%(value)s is not a phone number.", value=value[:40]))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
