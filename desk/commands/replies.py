"""Canned-reply commands: import-replies, replies export, replies evaluate (no database needed)."""
import json
from pathlib import Path

import click
from flask.cli import with_appcontext

from desk.accounts.audit import Actor
from desk.core.clock import now
from desk.core.errors import DeskError
from desk.replies.engine import ReplyDoc
from desk.replies.engine import evaluate as run
from desk.replies.library import export_library, import_library, parse_library


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"cannot read {path}: {exc}") from None


@click.command("import-replies")
@click.argument("file", type=click.Path(dir_okay=False))
@with_appcontext
def import_replies(file):
    """Import a desk-canned-replies/1 file: creates new keys, updates existing ones."""
    try:
        result = import_library(_read(file), now(), by=Actor(source="cli"))
    except DeskError as exc:
        raise click.ClickException(f"{file}: {exc} (nothing was imported)") from None
    click.echo(f"created: {len(result.created)}, updated: {len(result.updated)}, "
               f"unchanged: {len(result.unchanged)}")


@click.group("replies")
def replies():
    """Canned replies: export the library, evaluate suggestions."""


@replies.command("export")
@click.argument("file", type=click.Path(dir_okay=False))
@with_appcontext
def export(file):
    """Write the whole library (inactive replies too) as desk-canned-replies/1 JSON."""
    data = export_library()
    Path(file).write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    click.echo(f"exported {len(data['replies'])} replies to {file}")


def _cases(path: str) -> list[dict]:
    cases = []
    for n, line in enumerate(_read(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            case = json.loads(line)
        except ValueError as exc:
            raise click.ClickException(f"{path} line {n}: not JSON ({exc})") from None
        if not isinstance(case, dict) or not isinstance(case.get("text"), str) \
                or not isinstance(case.get("expected"), str):
            raise click.ClickException(f"{path} line {n}: needs \"text\" and \"expected\" strings")
        cases.append(case)
    return cases


@replies.command("evaluate")
@click.option("--library", "library", required=True, type=click.Path(dir_okay=False))
@click.option("--cases", "cases_path", required=True, type=click.Path(dir_okay=False))
@click.option("--history", "history_path", type=click.Path(dir_okay=False),
              help="Past messages answered with `expected` (same format as the cases).")
@click.option("--leave-one-out", is_flag=True,
              help="Also use the cases as history, never scoring a case with its own line.")
@click.option("--folds", type=click.IntRange(min=2), default=None,
              help="k-fold: score each fold with the other folds (and --history) as history.")
def evaluate(library, cases_path, history_path, leave_one_out, folds):
    """Top-1 / top-3 accuracy overall, per language and per intent, precision at the
    confidence threshold, the share without a suggestion, and the misses."""
    try:
        entries = parse_library(_read(library))
    except DeskError as exc:
        raise click.ClickException(f"{library}: {exc}") from None
    docs = [ReplyDoc(e.key, e.language, e.title, e.body, tuple(e.triggers))
            for e in entries if e.active]
    cases = _cases(cases_path)
    history = _cases(history_path) if history_path else []
    if leave_one_out and folds:
        raise click.ClickException("use --leave-one-out or --folds, not both")
    report = run(docs, cases, history, leave_one_out=leave_one_out, folds=folds or 0)
    modes = [f"history: {len(history)} messages"] if history else []
    if leave_one_out:
        modes.append("leave-one-out")
    elif folds:
        modes.append(f"{folds}-fold")
    click.echo(f"{len(cases)} cases, {len(docs)} replies, {' + '.join(modes) or 'no history'}, "
               f"confidence threshold {report['confidence']:.2f}")
    click.echo(f"{'':>22} {'n':>4} {'top-1':>6} {'top-3':>6} {'shown':>6} {'precision':>9} "
               f"{'no suggestion':>13}")
    for bucket, f in report["figures"].items():
        precision = "-" if f["precision"] is None else f"{f['precision']:.3f}"
        click.echo(f"{bucket:>22} {f['n']:>4} {f['top1']:>6.3f} {f['top3']:>6.3f} "
                   f"{f['shown']:>6.3f} {precision:>9} {1 - f['shown']:>13.3f}")
    click.echo(f"misses (not first, or no suggestion): {len(report['misses'])}")
    for miss in report["misses"]:
        where = "in top-3" if miss["expected"] in miss["got"] else "not in top-3"
        hidden = "" if miss["shown"] else ", below the threshold"
        click.echo(f"  {miss['id']}: expected {miss['expected']}, got {', '.join(miss['got']) or '-'}"
                   f" ({where}{hidden}): {miss['text']}")


COMMANDS = [import_replies, replies]


if __name__ == "__main__":  # python -m desk.commands.replies evaluate ... (no app, no database)
    replies()
