#!/usr/bin/env python
"""The long schemathesis run over the whole API, anonymously and as each role.

The script builds its own PostgreSQL database (``--db-name``, dropped and recreated, dropped again
at the end), migrates it, builds a small world with the real services (users, a queue with normal
and golden tasks, an assignment, a label, model versions, a generated evaluation run), signs in
through the API as each role, and runs schemathesis' engine (every phase, every check) over
``/api/schema/`` against the platform served over HTTP on loopback (Django's threaded WSGI server). It prints operations, generated cases, responses by
status and failures per check, and every distinct failure with a command that reproduces it.
The exit status is 1 when any check failed.

    .venv/bin/python benchmarks/api_fuzz.py --max-examples 100

The suite's bounded run is tests/security/test_security_api_fuzz.py (fewer examples, same code).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from scratch_db import database_url, recreate_database  # beside this script (run as a script)

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SERVER_URL = "postgres://postgres@127.0.0.1:55432/postgres"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-examples", type=int, default=100, help="hypothesis examples per operation and phase")
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--identities", default=",".join(("anonymous", "labeler", "expert", "engineer", "admin")),
                        help="comma-separated: anonymous and any of the roles")
    parser.add_argument("--phases", default="examples,coverage,fuzzing,stateful")
    parser.add_argument("--db-name", default="shoplabel_api_fuzz")
    parser.add_argument("--database-server", default=os.environ.get("BENCH_DATABASE_SERVER", DEFAULT_SERVER_URL),
                        help="any URL on the PostgreSQL server; its database name is replaced by --db-name")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="api-fuzz-bench-"))
    os.environ.update(DATABASE_URL=database_url(args.database_server, args.db_name),
                      SECRET_KEY=os.environ.get("SECRET_KEY", "api-fuzz-benchmark"), DEBUG="0", LOG_LEVEL="ERROR",
                      DJANGO_SETTINGS_MODULE=os.environ.get("DJANGO_SETTINGS_MODULE", "config.settings"), MEDIA_ROOT=str(scratch / "media"),
                      PRIVATE_ROOT=str(scratch / "private"),
                      VAR_DIR=str(scratch / "var"), DB_CONN_MAX_AGE="0")
    sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "tests" / "security")]
    recreate_database(args.database_server, args.db_name)
    try:
        return run(args, scratch)
    finally:
        from django.db import connections

        connections.close_all()
        recreate_database(args.database_server, args.db_name, create=False)


def run(args: argparse.Namespace, scratch: Path) -> int:
    import django

    django.setup()
    from django.core.management import call_command

    from api_fuzz_support import fuzz_server
    from api_world import api_world_build
    from evaluation import tasks

    # Runs the fuzzer creates are left pending: nothing here runs a worker, and a message left in
    # the embedded broker would wait for one.
    tasks.eval_run_generate.delay = lambda run_id: None

    started = time.monotonic()
    call_command("migrate", verbosity=0)
    (scratch / "checkpoints").mkdir()
    world = api_world_build(checkpoint_folder=scratch / "checkpoints")
    with fuzz_server() as base_url:
        return fuzz_all(args, base_url=base_url, world=world, started=started)


def fuzz_all(args: argparse.Namespace, *, base_url: str, world, started: float) -> int:
    from api_fuzz_support import fuzz_run

    print(f"set-up: {time.monotonic() - started:.1f} s")

    identities = [identity.strip() for identity in args.identities.split(",") if identity.strip()]
    phases = tuple(phase.strip() for phase in args.phases.split(",") if phase.strip())
    summary = None
    for identity in identities:
        identity_started = time.monotonic()
        summary = fuzz_run(base_url=base_url, identity=identity, world=world,
                           max_examples=args.max_examples, seed=args.seed, phases=phases, summary=summary)
        print(f"{identity}: {summary.cases[identity]} cases in {time.monotonic() - identity_started:.1f} s")

    print()
    print(f"schemathesis {__import__('schemathesis').__version__}, seed {args.seed}, "
          f"max examples {args.max_examples}, phases {', '.join(phases)}")
    print(f"operations: {len(summary.operations)}")
    print(f"cases generated: {sum(summary.cases.values())} "
          f"({', '.join(f'{identity} {summary.cases[identity]}' for identity in identities)})")
    print("responses by status: " + ", ".join(f"{code}: {n}" for code, n in sorted(summary.statuses.items())))
    print("checks run (times): " + ", ".join(f"{name} {n}" for name, n in sorted(summary.checks_run.items())))
    per_check = summary.failures_per_check()
    print("failures per check: " + (", ".join(f"{name} {n}" for name, n in sorted(per_check.items())) or "none"))
    print(f"engine errors: {len(summary.errors)}")
    print(f"wall time: {time.monotonic() - started:.1f} s")
    for failure in summary.failures:
        print()
        print(failure.describe())
    for error in summary.errors:
        print()
        print(error)
    return 1 if summary.failures or summary.errors else 0


if __name__ == "__main__":
    sys.exit(main())
