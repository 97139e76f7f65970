"""Messenger and Instagram customers get their name and picture from the platform's profile
lookup (one job after the first message, at most daily, failures tolerated), and a reply or a
survey never greets anyone by a platform id. Against tests/fakeplatform.py."""
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from desk.channels.accounts import Channel
from desk.core import signals
from desk.core.clock import now as clock_now
from desk.core.extensions import db
from desk.customers.models import Customer, CustomerIdentity
from desk.customers.profiles import ProfileLookupFailed, refresh_profile
from desk.feedback import surveys as feedback
from desk.inbox.tickets import Message, Ticket
from desk.replies.library import import_library, placeholder_values, render
from tests.factories import add_agent_reply, make_channel, make_customer, make_ticket, minutes
from tests.webhook_helpers import post_meta, wire

PAGE, IG, PSID, IGSID = "1122334455", "17841400000000", "1796600049", "5566778899"
TOKEN = "EAAG-page-token-7777"
LIBRARY = Path(__file__).parents[2] / "desk" / "demo" / "canned-replies.json"
NOW = clock_now().replace(microsecond=0) - timedelta(hours=3)


def _channel(app, platform, account):
    with app.app_context():
        channel = make_channel(platform, account)
        channel.access_token = TOKEN
        db.session.commit()
        return channel.id


def _dm(obj, account, sender, mid, text="hola"):
    return wire({"object": obj, "entry": [{"id": account, "time": 1764064800000, "messaging": [{
        "sender": {"id": sender}, "recipient": {"id": account}, "timestamp": 1764064800000,
        "message": {"mid": mid, "text": text}}]}]})


def _customer(app, platform, user_id):
    with app.app_context():
        identity = db.session.scalar(select(CustomerIdentity).where(
            CustomerIdentity.platform == platform, CustomerIdentity.platform_user_id == user_id))
        customer = identity.customer
        return (customer.display_name, customer.avatar_url, identity.name, identity.handle,
                customer.profile_checked_at is not None)


def test_a_messenger_dm_from_a_new_customer_shows_their_name_after_one_lookup(
        app, client, fake_platform, run_jobs, make_user, login):
    _channel(app, "facebook", PAGE)
    fake_platform.profiles[PSID] = {"first_name": "Lucía", "last_name": "Pérez",
                                    "profile_pic": "https://platform-lookaside.fbsbx.com/p.jpg"}
    assert post_meta(client, _dm("page", PAGE, PSID, "m-1")).status_code == 200
    assert post_meta(client, _dm("page", PAGE, PSID, "m-2", "¿sigue ahí?")).status_code == 200
    run_jobs()
    [call] = fake_platform.calls
    assert call["path"] == f"/graph/{PSID}"
    assert call["query"] == {"fields": "first_name,last_name,profile_pic"}
    assert call["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert _customer(app, "facebook", PSID) == (
        "Lucía Pérez", "https://platform-lookaside.fbsbx.com/p.jpg", "Lucía Pérez", None, True)
    # The next message the same day asks for nothing.
    post_meta(client, _dm("page", PAGE, PSID, "m-3", "gracias"))
    run_jobs()
    assert len(fake_platform.calls) == 1
    login(make_user("cm"))
    with app.app_context():
        ticket_id = db.session.scalar(select(Ticket.id))
    page = client.get(f"/tickets/{ticket_id}").get_data(as_text=True)
    assert "Lucía Pérez" in page


def test_an_instagram_customer_gets_name_and_username(app, client, fake_platform, run_jobs):
    _channel(app, "instagram", IG)
    fake_platform.profiles[IGSID] = {"name": "Marta Gil", "username": "marta.gil",
                                     "profile_pic": "https://scontent.cdninstagram.com/m.jpg"}
    post_meta(client, _dm("instagram", IG, IGSID, "ig-m-1"))
    run_jobs()
    [call] = fake_platform.calls
    assert (call["path"], call["query"], call["headers"]["Authorization"]) == (
        f"/graph/{IGSID}", {"fields": "name,username,profile_pic"}, f"Bearer {TOKEN}")
    assert _customer(app, "instagram", IGSID) == (
        "Marta Gil", "https://scontent.cdninstagram.com/m.jpg", "Marta Gil", "marta.gil", True)


def _nameless(platform="facebook", user_id=PSID, language="es"):
    customer = Customer(display_name=user_id, language=language)
    customer.identities.append(CustomerIdentity(platform=platform, platform_user_id=user_id))
    db.session.add(customer)
    db.session.commit()
    return customer


def test_lookups_tolerate_failures_and_refresh_at_most_daily(app_ctx, fake_platform):
    channel_id = _channel(app_ctx, "facebook", PAGE)
    customer = _nameless()
    config = app_ctx.config
    fake_platform.fail(1, 500, {"error": {"message": "Please retry", "code": 2,
                                          "is_transient": True}})
    with pytest.raises(ProfileLookupFailed):  # RQ tries again later
        refresh_profile("facebook", PSID, channel_id, NOW, config)
    assert _customer(app_ctx, "facebook", PSID)[0] == PSID
    # No profile to see (privacy, deleted account): the customer stays as it was until tomorrow.
    assert refresh_profile("facebook", PSID, channel_id, NOW, config) == "refused"
    assert refresh_profile("facebook", PSID, channel_id, NOW + timedelta(hours=23), config) == "fresh"
    assert len(fake_platform.calls) == 2
    fake_platform.profiles[PSID] = {"first_name": "Lucía", "last_name": ""}
    assert refresh_profile("facebook", PSID, channel_id, NOW + timedelta(hours=25), config) == "updated"
    assert _customer(app_ctx, "facebook", PSID)[:3] == ("Lucía", None, "Lucía")
    # A name someone else gave the customer is kept; the platform's own name follows it.
    db.session.get(Customer, customer.id).display_name = "Lucía (VIP)"
    db.session.commit()
    fake_platform.profiles[PSID] = {"first_name": "Lucía", "last_name": "Pérez"}
    refresh_profile("facebook", PSID, channel_id, NOW + timedelta(days=3), config)
    assert _customer(app_ctx, "facebook", PSID)[:3] == ("Lucía (VIP)", None, "Lucía Pérez")


def test_a_revoked_token_in_a_lookup_marks_the_channel_failing(app_ctx, fake_platform):
    channel_id = _channel(app_ctx, "facebook", PAGE)
    _nameless()
    fake_platform.revoked.add(TOKEN)
    assert refresh_profile("facebook", PSID, channel_id, NOW, app_ctx.config) == "channel_failing"
    assert db.session.get(Channel, channel_id).state == "failing"


@pytest.mark.parametrize("body, expected", [
    ("¡Hola {{customer.first_name}}! Ya lo miramos.", "¡Hola! Ya lo miramos."),
    ("Hola {{customer.name}}, gracias por escribir.", "Hola, gracias por escribir."),
    ("Hi {{customer.first_name}}, thanks for waiting.", "Hi, thanks for waiting."),
    ("{{customer.first_name}}, tu pedido sale hoy.", "Tu pedido sale hoy."),
])
def test_a_placeholder_never_fills_with_a_platform_id(app_ctx, body, expected):
    ticket = make_ticket(channel=make_channel("facebook"), customer=_nameless())
    rendered = render(body, placeholder_values(ticket))
    assert rendered.text == expected and PSID not in rendered.text
    assert rendered.unfilled == [] and rendered.neutral
    named = make_ticket(customer=make_customer(name="Lucía Pérez"))
    assert "Lucía" in render(body, placeholder_values(named)).text


@pytest.mark.parametrize("language, greeting", [("es", "Hola, ¿qué tal te atendimos?"),
                                                ("en", "Hi, how did we do?")])
def test_the_survey_greets_a_nameless_customer_without_an_id(app_ctx, make_user, language,
                                                             greeting):
    agent = make_user("cm")
    ticket = make_ticket(channel=make_channel("facebook"), customer=_nameless(language=language),
                         sent_at=NOW, now=NOW, language=language)
    add_agent_reply(ticket, agent, sent_at=NOW + minutes(5), now=NOW + minutes(5))
    ticket.status, ticket.resolved_at, ticket.resolution = "resolved", NOW + minutes(10), "replied"
    signals.ticket_resolved.send(ticket, now=NOW + minutes(10), resolution="replied")
    db.session.commit()
    survey = feedback.send_survey(ticket.id, NOW + minutes(70))
    text = db.session.get(Message, survey.message_id).text
    assert text.startswith(greeting) and PSID not in text


def test_the_suggestions_say_when_the_greeting_goes_without_a_name(client, make_user, login, app):
    with app.app_context():
        import_library(LIBRARY.read_bytes(), NOW)
        ticket_id = make_ticket("hola, dónde está mi pedido??", channel=make_channel("facebook"),
                                customer=_nameless()).id
    login(make_user("cm", name="Marta Ruiz"))
    html = client.get(f"/tickets/{ticket_id}/suggestions",
                      headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "¡Hola! Para revisar tu pedido" in html and PSID not in html
    assert "name is not known yet: the greeting goes without it" in html
