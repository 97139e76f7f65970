"""The `desk` console command: a Flask CLI group; each area adds its commands here."""
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
    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=False,
             help="The desk: a response desk for social-media customer service.")
def main():
    pass
