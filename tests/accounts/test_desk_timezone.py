"""The desk's time zone (DESK_TIMEZONE): new people start in it, whichever way they arrive,
pages that belong to no person show it, and a zone that does not exist stops the start."""
import pytest

from desk import create_app
from desk.accounts.users import create_user
from desk.core.extensions import db
from tests.conftest import app_config

ZONE = "America/Mexico_City"


def test_new_people_start_in_the_desks_zone(app_ctx, app, client, login, make_user, monkeypatch):
    monkeypatch.setitem(app.config, "TIMEZONE", ZONE)
    assert create_user("nuevo@desk.test", "Nuevo", "contraseña-larga-1", "cm").timezone == ZONE
    admin = make_user("admin")
    admin.timezone = "Europe/Madrid"  # the admin's own zone is not the newcomer's
    db.session.commit()
    login(admin)
    page = client.get("/admin/users")
    assert f'<option selected value="{ZONE}">' in page.text


def test_an_unknown_zone_stops_the_desk_with_a_clear_message(database_url, redis_server):
    with pytest.raises(RuntimeError, match="DESK_TIMEZONE='Mars/Olympus' is no time zone"):
        create_app({**app_config(database_url, redis_server), "TIMEZONE": "Mars/Olympus"})


def test_pages_of_no_person_use_the_desks_zone(database_url, redis_server):
    app = create_app({**app_config(database_url, redis_server), "TIMEZONE": ZONE})
    assert app.config["BABEL_DEFAULT_TIMEZONE"] == ZONE
