"""The README's first command, run as a new user would, without a terminal: ``./scripts/run`` on
the embedded defaults (SQLite, filesystem broker), stopped after set-up with SETUP_ONLY=1."""
import os
import sqlite3
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SETUP_TIMEOUT_SECONDS = 900


def test_readme_run_command_sets_up_the_demo_non_interactively(tmp_path):
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("DATABASE_URL", "CELERY_BROKER_URL", "SECRET_KEY", "MEDIA_ROOT", "DEBUG")}
    environment.update(VAR_DIR=str(tmp_path / "var"), SETUP_ONLY="1", MODELS_DEVICE="cpu")
    finished = subprocess.run(
        ["./scripts/run", "--products", "60", "--scenes", "10"], cwd=REPO_ROOT, env=environment,
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=SETUP_TIMEOUT_SECONDS)
    output = finished.stdout + finished.stderr
    assert finished.returncode == 0, output[-4000:]
    for account in ("labeler1", "expert1", "engineer1", "admin1"):
        assert account in output
    database = tmp_path / "var" / "db.sqlite3"
    assert database.exists(), "the embedded default database is SQLite under VAR_DIR"
    with sqlite3.connect(database) as connection:
        (status, scenes_done, scenes_total), = connection.execute(
            "SELECT status, scenes_done, scenes_total FROM evaluation_evalrun").fetchall()
        (tasks,), = connection.execute("SELECT COUNT(*) FROM labeling_task").fetchall()
        (products,), = connection.execute("SELECT COUNT(*) FROM labeling_product").fetchall()
    assert (status, scenes_done) == ("labeling", scenes_total)
    assert scenes_total > 0 and tasks > 0 and products == 60
    assert (tmp_path / "var" / "secret_key").exists()
    # The README's later commands (`manage.py calibration_demo`, `closed_loop`) run in the same
    # shell with no SECRET_KEY set: settings read the installation's key from VAR_DIR.
    checked = subprocess.run([str(REPO_ROOT / ".venv" / "bin" / "python"), "manage.py", "check"], cwd=REPO_ROOT,
                             env=environment, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr
