"""`desk run`'s children: one that exits is started again after a pause; all stop together."""
import sys
import time

from desk.core.process import Child, Children

PYTHON = sys.executable


def started(marker) -> int:
    """How often the marking child ran."""
    return len(marker.read_text()) if marker.exists() else 0


def test_a_child_that_exits_is_started_again_after_its_pause(tmp_path):
    starts = tmp_path / "starts"
    dies = Child([PYTHON, "-c", f"open({str(starts)!r}, 'a').write('x')"], env={}, first_pause=0.3)
    lives = Child([PYTHON, "-c", "import time; time.sleep(60)"], env={})
    children = Children([dies, lives]).start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and started(starts) < 3:
            time.sleep(0.1)
        assert started(starts) >= 3  # it exits at once, and is started again each time
        assert dies.pause > 0.3  # dying young doubles the pause
        assert lives.process.poll() is None
    finally:
        children.stop(timeout=5)
    assert lives.process.poll() is not None  # stopped with the others


def test_stop_terminates_every_child_and_restarts_none(tmp_path):
    child = Child([PYTHON, "-c", "import time; time.sleep(60)"], env={}, first_pause=0.1)
    children = Children([child]).start()
    first = child.process
    children.stop(timeout=5)
    time.sleep(0.5)
    assert first.poll() is not None and child.process is first
