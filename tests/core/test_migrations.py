"""`desk init-db` builds the schema from the migrations, and the migrations match the models."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from desk import create_app
from desk.core.extensions import db
from desk.inbox.search_schema import include_name
from tests.conftest import app_config


def test_init_db_creates_the_schema_the_models_describe(empty_database_url, redis_server):
    app = create_app(app_config(empty_database_url, redis_server))
    result = app.test_cli_runner().invoke(args=["init-db"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "database ready" in result.output
    with app.app_context():
        engine = db.engine
        tables = set(inspect(engine).get_table_names())
        assert {"user", "ticket", "message", "inbound_event"} <= tables
        with engine.connect() as conn:  # the fallback SLA policy comes with the schema
            assert conn.execute(text("SELECT name, first_response_minutes FROM sla_policy "
                                     "WHERE is_default")).all() == [("Default", 60)]
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True,
                                                              "include_name": include_name})
            differences = compare_metadata(context, db.metadata)
        engine.dispose()
    assert differences == [], f"models and migrations disagree: {differences}"
    # Running it again is a no-op, not an error.
    again = app.test_cli_runner().invoke(args=["init-db"], catch_exceptions=False)
    assert again.exit_code == 0
