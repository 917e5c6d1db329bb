#!/usr/bin/env python
"""Fixed against adaptive replication on simulated labelers: labels spent and accuracy won.

For each labeler population and each replication setting the script makes a relevance queue of
``--tasks`` tasks whose true grade per slot is known (seeded), and lets simulated labelers work
through it with the real services (``assignment_claim``, ``label_submit``) in rounds until nobody
can claim anything: each round every labeler, in a shuffled order, claims one task (holding the
lease while the others claim), then all submit. It prints one markdown table: labels per task, how
they were spread, and the accuracy of the aggregated answer (majority vote per slot, ties to the
lower grade: ``labeling.task_kinds.relevance.slot_majority_vote``) against the truth.

    DATABASE_URL=postgres://postgres@127.0.0.1:55432/postgres .venv/bin/python benchmarks/adaptive_replication.py
    ... benchmarks/adaptive_replication.py --populations all --tasks 100   # each pool alone, too

The database named by ``--db-name`` on DATABASE_URL's server is dropped, recreated, migrated and
dropped again at the end.

The error model is deliberately small (the platform's labeler simulator is the full one). A
labeler slips on a slot with their own error rate; a slip is a neighbouring similarity grade three
times in four, else any other grade. A spammer answers every slot uniformly at random. A labeler's
answer to a task depends only on (seed, labeler, task), so every setting sees the same answers from
the same labeler: settings differ only in who is asked and how often.
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from scratch_db import database_url, recreate_database  # beside this script (run as a script)

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SERVER_URL = "postgres://postgres@127.0.0.1:55432/postgres"
GRADES = ("extremely_similar", "similar", "marginally_similar", "not_similar", "did_not_load")
# The true grade of a slot: most retrieved products are neither great nor broken.
TRUTH_WEIGHTS = (0.15, 0.25, 0.25, 0.30, 0.05)
SIMILARITY_GRADES = 4  # the first four grades form a scale; did_not_load stands apart
NEIGHBOUR_SLIP_SHARE = 0.75
SLOTS = 5


@dataclass(frozen=True)
class SimLabeler:
    name: str
    pool: str
    error_rate: float
    spammer: bool = False


@dataclass(frozen=True)
class Setting:
    name: str
    replication: int
    min_labels: int | None = None
    agreement_target: float | None = None


SETTINGS = (
    Setting("fixed 3", 3),
    Setting("fixed 5", 5),
    Setting("adaptive 2..3, target 0.99", 3, 2, 0.99),
    Setting("adaptive 2..5, target 0.99", 5, 2, 0.99),
    Setting("adaptive 2..5, target 0.80", 5, 2, 0.80),
)


def pool_labelers(pool: str, count: int, error_range: tuple[float, float], *, spammers: int,
                  rng: random.Random) -> list[SimLabeler]:
    labelers = [SimLabeler(f"{pool}-{i}", pool, rng.uniform(*error_range)) for i in range(count - spammers)]
    return labelers + [SimLabeler(f"{pool}-spam-{i}", pool, 1.0, spammer=True) for i in range(spammers)]


POPULATIONS = ("mixed", "in-house", "outside", "crowd")


def populations(seed: int) -> dict[str, tuple[str, list[SimLabeler]]]:
    """Population key -> (its name in the table, its labelers). Each population has more labelers
    than the largest replication, so no task runs out of people."""
    rng = random.Random(f"{seed}:labelers")
    in_house = pool_labelers("in-house", 6, (0.03, 0.07), spammers=0, rng=rng)
    outside = pool_labelers("outside", 8, (0.15, 0.25), spammers=0, rng=rng)
    crowd = pool_labelers("crowd", 10, (0.35, 0.55), spammers=2, rng=rng)
    return {"mixed": ("all three pools (6 + 8 + 10)", in_house + outside + crowd),
            "in-house": ("in-house only (~5% slips)", in_house),
            "outside": ("outside only (~20%)", outside),
            "crowd": ("crowd only (~45%, 2 of 10 spammers)", crowd)}


def truth_grades(*, seed: int, tasks: int) -> list[list[str]]:
    rng = random.Random(f"{seed}:truth")
    return [rng.choices(GRADES, weights=TRUTH_WEIGHTS, k=SLOTS) for _ in range(tasks)]


def simulated_answer(*, seed: int, labeler: SimLabeler, task_number: int, truth: list[str]) -> dict:
    rng = random.Random(f"{seed}:{labeler.name}:{task_number}")
    grades = []
    for true_grade in truth:
        if labeler.spammer:
            grades.append(rng.choice(GRADES))
            continue
        if rng.random() >= labeler.error_rate:
            grades.append(true_grade)
            continue
        position = GRADES.index(true_grade)
        neighbours = [p for p in (position - 1, position + 1) if 0 <= p < SIMILARITY_GRADES]
        if position < SIMILARITY_GRADES and rng.random() < NEIGHBOUR_SLIP_SHARE:
            grades.append(GRADES[rng.choice(neighbours)])
        else:
            grades.append(rng.choice([grade for grade in GRADES if grade != true_grade]))
    return {"grades": grades}


def relevance_payload(number: int) -> dict:
    return {
        "query_object": {"id": number, "crop_url": f"/media/crops/{number}.jpg",
                         "scene_url": f"/media/scenes/{number}.jpg", "box": [12, 40, 180, 300], "category": "shoes"},
        "candidates": [{"product_id": f"p{number}-{k}", "image_url": f"/media/products/{number}-{k}.jpg",
                        "category": "shoes"} for k in range(SLOTS)],
    }


# -- pure computation: label rows in, numbers out ---------------------------------------------

def accuracy_summary(*, label_rows: list[tuple[int, int, dict]], truth: list[list[str]]) -> dict:
    """Majority vote per slot against the truth; ``label_rows`` are (task number, labeler id, answer)."""
    import pandas as pd

    from labeling.task_kinds.relevance import slot_label_frame, slot_majority_vote

    votes = slot_majority_vote(slot_label_frame(label_rows))
    truth_frame = pd.DataFrame([(number, slot, grade) for number, grades in enumerate(truth)
                                for slot, grade in enumerate(grades, start=1)],
                               columns=["query_object_id", "slot", "truth"])
    judged = truth_frame.merge(votes, on=["query_object_id", "slot"], how="left")
    judged["correct"] = judged["grade"] == judged["truth"]
    per_task = Counter(number for number, _, _ in label_rows)
    return {
        "labels": len(label_rows),
        "labels_per_task": len(label_rows) / len(truth),
        "spread": Counter(per_task[number] for number in range(len(truth))),
        "slot_accuracy": float(judged["correct"].mean()),
        "task_accuracy": float(judged.groupby("query_object_id")["correct"].all().mean()),
    }


def markdown_table(rows: list[tuple[str, Setting, dict]]) -> str:
    lines = ["| labelers | setting | labels / task | labels per task: tasks | slot accuracy | all 5 slots right |",
             "|---|---|---:|---|---:|---:|"]
    for population, setting, summary in rows:
        spread = " ".join(f"{n}:{summary['spread'][n]}" for n in sorted(summary["spread"]))
        lines.append(f"| {population} | {setting.name} | {summary['labels_per_task']:.2f} | {spread} "
                     f"| {summary['slot_accuracy']:.3f} | {summary['task_accuracy']:.3f} |")
    return "\n".join(lines)


# -- the platform -----------------------------------------------------------------------------


def labeler_users(labelers: list[SimLabeler]) -> dict[str, object]:
    """One platform user per simulated labeler. Bulk inserts: the services hash passwords
    (deliberately slow), which is not what is measured here."""
    from labeling.models import Pool, PoolKind, Role, User

    kinds = {"in-house": PoolKind.IN_HOUSE, "outside": PoolKind.FIXED_OUTSIDE, "crowd": PoolKind.CROWD}
    pools = {name: Pool.objects.get_or_create(name=f"sim {name}", defaults={"kind": kind})[0]
             for name, kind in kinds.items()}
    wanted = [User(username=f"sim-{labeler.name}", role=Role.LABELER, pool=pools[labeler.pool], password="!",
                   is_simulated=True) for labeler in labelers]
    User.objects.bulk_create(wanted, ignore_conflicts=True)
    users = {user.username: user for user in User.objects.filter(username__in=[u.username for u in wanted])}
    return {labeler.name: users[f"sim-{labeler.name}"] for labeler in labelers}


def queue_run(*, name: str, setting: Setting, labelers: list[SimLabeler], users: dict, truth: list[list[str]],
              seed: int) -> tuple[list[tuple[int, int, dict]], int, list[str]]:
    """Create the queue, work through it, return its label rows, the rounds it took and any broken invariant."""
    from labeling.models import Label, Task
    from labeling.services.queue_engine import assignment_claim, label_submit, task_labels_wanted
    from labeling.services.queues import queue_create, queue_replication_set
    from labeling.services.tasks import TaskSpec, tasks_create

    queue = queue_create(name=name, task_kind="relevance", replication=setting.replication, lease_seconds=600)
    queue_replication_set(queue=queue, replication=setting.replication, min_labels=setting.min_labels,
                          agreement_target=setting.agreement_target)
    tasks_create(queue=queue, specs=[TaskSpec(source_key=f"sim-{number}", payload=relevance_payload(number))
                                     for number in range(len(truth))])
    order_rng = random.Random(f"{seed}:{name}:order")
    order = list(labelers)
    rounds = 0
    while True:
        order_rng.shuffle(order)
        leases = [(labeler, lease) for labeler in order
                  if (lease := assignment_claim(queue=queue, labeler=users[labeler.name])) is not None]
        if not leases:
            break
        rounds += 1
        for labeler, lease in leases:
            number = lease.task.payload["query_object"]["id"]
            answer = simulated_answer(seed=seed, labeler=labeler, task_number=number, truth=truth[number])
            label_submit(assignment_id=lease.pk, labeler=users[labeler.name], answer=answer)

    number_of = {pk: payload["query_object"]["id"]
                 for pk, payload in Task.objects.filter(queue=queue).values_list("pk", "payload")}
    rows = [(number_of[task_id], labeler_id, answer) for task_id, labeler_id, answer
            in Label.objects.filter(task__queue=queue).values_list("task_id", "labeler_id", "answer")]
    per_task = Counter(number for number, _, _ in rows)
    broken = []
    for task in Task.objects.filter(queue=queue):
        wanted = task_labels_wanted(queue=queue, labels_wanted=task.labels_wanted)
        got = per_task[number_of[task.pk]]
        if not got == task.label_count == wanted or got > setting.replication:
            broken.append(f"task {task.pk}: {got} labels, label_count {task.label_count}, wanted {wanted}")
    return rows, rounds, broken


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=300, help="tasks per queue (one queue per population and setting)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--populations", default="mixed",
                        help=f"comma-separated, of {', '.join(POPULATIONS)}, or 'all' (each adds a queue per setting)")
    parser.add_argument("--db-name", default="shoplabel_adaptive_bench")
    parser.add_argument("--database-server", default=os.environ.get("DATABASE_URL", DEFAULT_SERVER_URL),
                        help="any URL on the PostgreSQL server (default: DATABASE_URL); its database name is "
                             "replaced by --db-name")
    args = parser.parse_args()
    args.populations = list(POPULATIONS) if args.populations == "all" else args.populations.split(",")
    unknown = sorted(set(args.populations) - set(POPULATIONS))
    if unknown:
        parser.error(f"unknown population(s) {', '.join(unknown)}; choose from {', '.join(POPULATIONS)} or all")

    os.environ.update(DATABASE_URL=database_url(args.database_server, args.db_name),
                      SECRET_KEY=os.environ.get("SECRET_KEY", "adaptive-replication-benchmark"), DEBUG="0",
                      LOG_LEVEL="WARNING", DJANGO_SETTINGS_MODULE="config.settings", DB_CONN_MAX_AGE="0")
    sys.path.insert(0, str(REPO_ROOT))
    recreate_database(args.database_server, args.db_name)
    try:
        return run(args)
    finally:
        from django.db import connections

        connections.close_all()
        recreate_database(args.database_server, args.db_name, create=False)


def run(args: argparse.Namespace) -> int:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    started = time.monotonic()
    truth = truth_grades(seed=args.seed, tasks=args.tasks)
    rows, failures = [], []
    known = populations(args.seed)
    for key in args.populations:
        population, labelers = known[key]
        users = labeler_users(labelers)
        for setting in SETTINGS:
            name = f"{population} / {setting.name}"
            label_rows, _rounds, broken = queue_run(name=name, setting=setting, labelers=labelers, users=users,
                                                    truth=truth, seed=args.seed)
            failures += [f"{name}: {problem}" for problem in broken]
            rows.append((population, setting, accuracy_summary(label_rows=label_rows, truth=truth)))
    print(markdown_table(rows))
    print(f"\n{args.tasks} tasks per queue, seed {args.seed}, {time.monotonic() - started:.0f} s.")
    if failures:
        print("\nBROKEN INVARIANTS:\n" + "\n".join(failures[:20]))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
