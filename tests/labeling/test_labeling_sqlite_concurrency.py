"""The embedded default holds: 16 labelers at once on SQLite, no "database is locked", no lost submit.

The suite's database is PostgreSQL, so the SQLite run happens in a process of its own
(``sqlite_concurrency_run.py``) on a fresh file; this test reads what it saw."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.labeling.sqlite_concurrency_run import REPLICATION, TASKS

RUNNER = Path(__file__).with_name("sqlite_concurrency_run.py")


def test_sixteen_labelers_at_once_on_the_sqlite_default_lose_nothing_and_meet_no_lock_error(tmp_path):
    done = subprocess.run([sys.executable, str(RUNNER), str(tmp_path / "db.sqlite3")], capture_output=True, text=True,
                          timeout=300, cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["errors"] == []
    assert seen["tasks"] == TASKS and seen["labels_per_task"] == [REPLICATION]
    assert seen["duplicate_pairs"] == 0 and seen["lost"] == 0 and seen["unaccounted"] == 0
    assert seen["label_counts"] == [REPLICATION]
