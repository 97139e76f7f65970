"""`desk import-replies`, `desk replies export` and `desk replies evaluate`."""
import json
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import func, select

from desk.commands.replies import replies as replies_group
from desk.core.extensions import db
from desk.replies.models import CannedReply

FIXTURES = Path(__file__).parents[1] / "fixtures"
LIBRARY = Path(__file__).parents[2] / "desk" / "demo" / "canned-replies.json"
CASES = FIXTURES / "suggestions-dev.jsonl"


def count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(CannedReply.id)))


def test_import_replies_then_reimport_updates(app, tmp_path):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["import-replies", str(LIBRARY)])
    assert result.exit_code == 0, result.output
    assert "created: 40, updated: 0" in result.output and count(app) == 40
    data = json.loads(LIBRARY.read_text())
    data["replies"][0]["title"] = "Estado de tu pedido"
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(data, ensure_ascii=False))
    result = runner.invoke(args=["import-replies", str(changed)])
    assert "created: 0, updated: 1, unchanged: 39" in result.output


def test_import_replies_bad_file_fails_and_writes_nothing(app, tmp_path):
    data = json.loads(LIBRARY.read_text())
    del data["replies"][5]["title"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    result = app.test_cli_runner().invoke(args=["import-replies", str(bad)])
    assert result.exit_code != 0
    assert "entry 6 ('refund-en'): title: Field required" in result.output
    assert "nothing was imported" in result.output and count(app) == 0
    missing = app.test_cli_runner().invoke(args=["import-replies", str(tmp_path / "nope.json")])
    assert missing.exit_code != 0 and "cannot read" in missing.output


def test_export_writes_the_library(app, tmp_path):
    runner = app.test_cli_runner()
    runner.invoke(args=["import-replies", str(LIBRARY)])
    out = tmp_path / "export.json"
    result = runner.invoke(args=["replies", "export", str(out)])
    assert result.exit_code == 0 and "exported 40 replies" in result.output
    exported = json.loads(out.read_text())
    assert exported["format"] == "desk-canned-replies/1" and len(exported["replies"]) == 40


def _row(output: str, bucket: str) -> dict[str, float]:
    """One figures row of `desk replies evaluate` by its bucket name."""
    for line in output.splitlines():
        parts = line.split()
        if parts and parts[0] == bucket and len(parts) == 7:
            names = ("n", "top1", "top3", "shown", "precision", "none")
            return dict(zip(names, (float(p) if p != "-" else None for p in parts[1:])))
    raise AssertionError(f"no row {bucket!r} in:\n{output}")


def test_evaluate_prints_accuracy_per_language_intent_threshold_and_misses_without_a_database():
    result = CliRunner().invoke(replies_group, [
        "evaluate", "--library", str(LIBRARY), "--cases", str(CASES)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("120 cases, 40 replies, no history, confidence threshold 0.")
    overall = _row(result.output, "all")
    assert overall["n"] == 120 and 0.85 <= overall["top1"] <= overall["top3"] <= 1.0
    assert abs(overall["shown"] + overall["none"] - 1) < 0.002 and overall["precision"] >= 0.85
    assert _row(result.output, "es")["n"] == _row(result.output, "en")["n"] == 60
    assert _row(result.output, "intent:refund")["n"] == 6
    summary = next(n for n, line in enumerate(lines) if line.startswith("misses "))
    misses = int(lines[summary].split(": ")[1])
    assert len(lines) == summary + 1 + misses and all("expected" in line for line in lines[summary + 1:])


def test_evaluate_with_history_leave_one_out_and_k_fold(tmp_path):
    history = tmp_path / "history.jsonl"
    history.write_text(CASES.read_text())
    with_history = CliRunner().invoke(replies_group, [
        "evaluate", "--library", str(LIBRARY), "--cases", str(CASES), "--history", str(history)])
    assert "history: 120 messages" in with_history.output
    loo = CliRunner().invoke(replies_group, [
        "evaluate", "--library", str(LIBRARY), "--cases", str(CASES), "--leave-one-out"])
    assert "leave-one-out" in loo.output
    # Scoring a case with itself as history would be near perfect; leave-one-out is not.
    assert _row(loo.output, "all")["top1"] < _row(with_history.output, "all")["top1"]
    folds = CliRunner().invoke(replies_group, [
        "evaluate", "--library", str(LIBRARY), "--cases", str(CASES), "--folds", "5"])
    assert "5-fold" in folds.output and _row(folds.output, "all")["top1"] >= 0.85
    both = CliRunner().invoke(replies_group, [
        "evaluate", "--library", str(LIBRARY), "--cases", str(CASES), "--folds", "5",
        "--leave-one-out"])
    assert both.exit_code != 0


def test_evaluate_rejects_bad_cases(tmp_path):
    bad = tmp_path / "cases.jsonl"
    bad.write_text('{"text": "hola"}\n')
    result = CliRunner().invoke(replies_group, [
        "evaluate", "--library", str(LIBRARY), "--cases", str(bad)])
    assert result.exit_code != 0 and "line 1" in result.output
