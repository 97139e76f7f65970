"""Account jobs: mails that carry a password reset or invitation link."""
from workers import job


@job
def mail_password_link(user_id: int, purpose: str) -> bool:
    """Mail a new reset or invitation link to the user (notify queue)."""
    from desk.notify.account_mail import mail_password_link as send
    return send(user_id, purpose)
