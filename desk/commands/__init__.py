"""The `desk` console command: a Flask CLI group; each area adds its commands here."""
import os
import sys

import click
from flask.cli import FlaskGroup


# Each module lists its click commands in COMMANDS.
COMMAND_MODULES = ["core", "inbound", "replies", "sla", "escalations", "feedback", "demo"]


def register_commands(app) -> None:
    from desk.modules import import_all
    for module in import_all([f"desk.commands.{name}" for name in COMMAND_MODULES]):
        for command in module.COMMANDS:
            app.cli.add_command(command)


def _create_app():
    from desk import create_app
    if len(sys.argv) < 2 or "--help" in sys.argv[1:] or "-h" in sys.argv[1:]:
        # Printing help runs nothing: it needs no secret, so a newcomer can read it first.
        return create_app({"SECRET_KEY": os.environ.get("DESK_SECRET_KEY") or "help-only"})
    try:
        return create_app()
    except RuntimeError as exc:  # a configuration mistake: say it, without a traceback
        raise click.ClickException(str(exc)) from None


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=False,
             help="The desk: a response desk for social-media customer service.")
def main():
    pass
