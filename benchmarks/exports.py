#!/usr/bin/env python
"""Training-data exports on 1,000,000 labels: time and peak memory of the streaming export job
against writing the same file from in-memory lists.

Makes a scratch PostgreSQL database (``--db-name`` on DATABASE_URL's server, dropped and recreated,
dropped again at the end) with 200 labelers, a box queue of ``--tasks`` scenes and a matching-pair
cleanup queue of ``--tasks`` creator pairs, ``--labels-per-task`` labels on every task (inserted
in SQL, ``INSERT ... SELECT generate_series``: bulk_create of two million rows would take longer
than the exports themselves), then for each of COCO detection and matching, each in a fresh child
process so that its peak RSS (``ru_maxrss``) is its own:

- ``stream``: ``export_job_create`` + ``export_job_run``, the job as a worker runs it;
- ``memory``: the naive way, every task and label read into lists with one query each, every
  consensus computed into one list of records, then the file written from that list with one
  ``json.dump``; the write alone is timed too ("from an in-memory list").

    DATABASE_URL=postgres://postgres@127.0.0.1:55432/postgres .venv/bin/python benchmarks/exports.py [--tasks 100000]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scratch_db import database_url, recreate_database  # beside this script (run as a script)

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SERVER_URL = "postgres://postgres@127.0.0.1:55432/postgres"
FORMATS = ("coco_detection", "matching")


def fill(*, tasks: int, per_task: int, labelers: int) -> dict:
    from django.db import connection

    from labeling.models import Pool, PoolKind, Queue, Role, User

    pool = Pool.objects.create(name="bench", kind=PoolKind.CROWD)
    people = User.objects.bulk_create([User(username=f"labeler-{i:03d}", role=Role.LABELER, pool=pool, password="!")
                                       for i in range(labelers)])
    first_user = min(person.pk for person in people)
    boxes = Queue.objects.create(name="bench boxes", task_kind="bounding_boxes", replication=per_task)
    cleanup = Queue.objects.create(name="bench cleanup", task_kind="matching_pair", replication=per_task)
    jitter = "round((random() * 4)::numeric, 1)"
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO labeling_image (sha256, file, width, height, kind, created_at) "
            "SELECT md5('s' || n) || md5('t' || n), 'images/bench/' || n || '.png', 640, 480, 'scene', now() "
            "FROM generate_series(1, %s) AS n", [tasks])
        cursor.execute(
            "INSERT INTO labeling_image (sha256, file, width, height, kind, created_at) "
            "SELECT md5('p' || n) || md5('q' || n), 'images/bench/p' || n || '.png', 64, 64, 'product', now() "
            "FROM generate_series(1, 1000) AS n")
        cursor.execute(
            "INSERT INTO labeling_task (queue_id, payload, source_key, priority, is_golden, label_count, created_at) "
            "SELECT %s, jsonb_build_object('scene_id', i.id, 'image', jsonb_build_object("
            "'url', '/media/' || i.file, 'width', 640, 'height', 480)), 'scene:' || i.id, 0, false, %s, now() "
            "FROM labeling_image i WHERE i.kind = 'scene'", [boxes.pk, per_task])
        cursor.execute(
            "INSERT INTO labeling_creatorpair (scene_key, product_key, scene_id, product_image_id, box_normalized, box, "
            "category, created_at) SELECT 's' || i.id, 'p' || i.id, i.id, "
            "(SELECT min(id) FROM labeling_image WHERE kind = 'product') + i.id %% 1000, "
            "'[0.1, 0.2, 0.5, 0.9]'::jsonb, '[64, 96, 320, 432]'::jsonb, 'tops', now() "
            "FROM labeling_image i WHERE i.kind = 'scene'", [])
        cursor.execute(
            "INSERT INTO labeling_task (queue_id, payload, source_key, priority, is_golden, label_count, created_at) "
            "SELECT %s, jsonb_build_object('pair_id', p.id, 'scene', jsonb_build_object('url', '/media/' || s.file, "
            "'width', 640, 'height', 480), 'box', p.box, 'category', 'tops', 'product', jsonb_build_object("
            "'image_url', '/media/' || pi.file)), 'pair:' || p.id, 0, false, %s, now() "
            "FROM labeling_creatorpair p JOIN labeling_image s ON s.id = p.scene_id "
            "JOIN labeling_image pi ON pi.id = p.product_image_id", [cleanup.pk, per_task])
        cursor.execute(
            "INSERT INTO labeling_assignment (task_id, queue_id, labeler_id, state, created_at, expires_at, finished_at, "
            "counts_toward_replication) "
            "SELECT t.id, t.queue_id, %s + ((t.id + j * %s) %% %s), 'submitted', now(), now(), now(), true "
            "FROM labeling_task t CROSS JOIN generate_series(0, %s - 1) AS j",
            [first_user, labelers // per_task, labelers, per_task])
        cursor.execute(
            "INSERT INTO labeling_label (task_id, assignment_id, labeler_id, answer, time_spent_ms, request_sha256, "
            "is_staff_label, counts_toward_replication, is_simulated, created_at) "
            "SELECT a.task_id, a.id, a.labeler_id, CASE WHEN a.queue_id = %s THEN jsonb_build_object('boxes', "
            f"jsonb_build_array(jsonb_build_object('box', jsonb_build_array(100 + {jitter}, 100, 300, 400), "
            "'category', 'tops'), "
            f"jsonb_build_object('box', jsonb_build_array(350, 200 + {jitter}, 500, 450), 'category', 'shoes'))) "
            f"ELSE jsonb_build_object('box', jsonb_build_array(64 + {jitter}, 96, 320, 432), 'category', 'tops', "
            "'match', (ARRAY['same', 'same', 'similar', 'not_match'])[1 + floor(random() * 4)::int], "
            "'is_spam', random() < 0.1) END, 1000, '', false, true, false, now() FROM labeling_assignment a",
            [boxes.pk])
        cursor.execute("ANALYZE")
        cursor.execute("SELECT count(*) FROM labeling_label")
        [n_labels] = cursor.fetchone()
    print(f"filled: {n_labels:,} labels on {2 * tasks:,} tasks ({tasks:,} box scenes, {tasks:,} pairs)")
    return {"coco_detection": boxes.pk, "matching": cleanup.pk}


def child_stream(format: str, queue_id: int) -> dict:
    from labeling.exports import jobs

    jobs._enqueue = lambda job, queue: None  # the benchmark runs the job itself, in this process
    started = time.perf_counter()
    job = jobs.export_job_create(format=format, name=f"bench {format}", params={"queues": [queue_id]}, created_by=None)
    job = jobs.export_job_run(job_id=job.pk)
    return {"seconds": time.perf_counter() - started, "bytes": job.size_bytes, "sha256": job.sha256}


def child_memory(format: str, queue_id: int, out: Path) -> dict:
    """The naive export: everything in lists, then one json.dump."""
    from labeling.exports.format_coco import coco_categories
    from labeling.models import CreatorPair, Image, Label, Task
    from labeling.task_kinds import task_kind_spec

    started = time.perf_counter()
    tasks = list(Task.objects.filter(queue_id=queue_id, is_golden=False).order_by("pk")
                 .values_list("pk", "payload"))
    answers: dict[int, list] = {}
    for task_id, answer in Label.objects.filter(task__queue_id=queue_id).order_by("task_id", "labeler_id") \
            .values_list("task_id", "answer"):
        answers.setdefault(task_id, []).append(answer)
    if format == "coco_detection":
        spec = task_kind_spec("bounding_boxes")
        files = dict(Image.objects.values_list("pk", "file"))
        categories = coco_categories("fine")
        category_id = {c["name"]: c["id"] for c in categories}
        images, annotations = [], []
        for task_id, payload in tasks:
            images.append({"id": task_id, "file_name": files[payload["scene_id"]], "width": 640, "height": 480})
            consensus = spec.consensus(payload=payload, answers=answers.get(task_id, []))
            for entry in consensus.answer["boxes"]:
                x0, y0, x1, y1 = entry["box"]
                annotations.append({"id": len(annotations) + 1, "image_id": task_id,
                                    "category_id": category_id[entry["category"]],
                                    "bbox": [x0, y0, x1 - x0, y1 - y0], "area": (x1 - x0) * (y1 - y0), "iscrowd": 0})
        document = {"categories": categories, "images": images, "annotations": annotations}
    else:
        spec = task_kind_spec("matching_pair")
        pairs = {pk: (scene, name, product, key) for pk, scene, name, product, key in CreatorPair.objects.values_list(
            "pk", "scene_id", "scene__file", "product_image_id", "product_key")}
        document = []
        for task_id, payload in tasks:
            answer = spec.consensus(payload=payload, answers=answers.get(task_id, [])).answer
            if spec.export_left_out(answer=answer) is None:
                scene, name, product, key = pairs[payload["pair_id"]]
                document.append({"image": name, "box": answer["box"], "product_id": product,
                                 "category": answer["category"], "source": "scene", "scene_id": scene,
                                 "instance_id": key})
    built = time.perf_counter()
    with open(out, "w") as handle:
        if format == "coco_detection":
            json.dump(document, handle, separators=(",", ":"))
        else:
            for record in document:
                handle.write(json.dumps(record, separators=(",", ":")) + "\n")
    written = time.perf_counter()
    return {"seconds": written - started, "write_seconds": written - built, "bytes": out.stat().st_size}


def child(args) -> None:
    import django

    django.setup()
    with tempfile.TemporaryDirectory() as private:
        from django.conf import settings

        settings.PRIVATE_ROOT = Path(private)
        if args.child == "stream":
            result = child_stream(args.format, args.queue)
        else:
            result = child_memory(args.format, args.queue, Path(private) / "naive.out")
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(result))


def measured(mode: str, format: str, queue_id: int) -> dict:
    answer = subprocess.run([sys.executable, __file__, "--child", mode, "--format", format, "--queue", str(queue_id)],
                            capture_output=True, text=True, env=os.environ, check=True)
    line = next(line for line in answer.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def baseline_rss_mb() -> float:
    answer = subprocess.run([sys.executable, "-c", "import django, resource; django.setup(); "
                             "import labeling.exports.format_coco, labeling.exports.format_matching; "
                             "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"],
                            capture_output=True, text=True, env=os.environ, check=True, cwd=REPO_ROOT)
    return float(answer.stdout.strip().splitlines()[-1])


def run(args) -> None:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    queues = fill(tasks=args.tasks, per_task=args.labels_per_task, labelers=args.labelers)
    print(f"  fill took {time.perf_counter() - started:.0f} s")
    from django.db import connections

    connections.close_all()
    print(f"Python + Django + the formats imported: {baseline_rss_mb():.0f} MB peak RSS")
    print("| format | way | time | peak RSS | file |")
    print("|---|---|---:|---:|---:|")
    for format in FORMATS:
        stream = measured("stream", format, queues[format])
        memory = measured("memory", format, queues[format])
        print(f"| {format} | streaming export job | {stream['seconds']:.1f} s | {stream['peak_rss_mb']:.0f} MB | "
              f"{stream['bytes'] / 1e6:.1f} MB |")
        print(f"| {format} | in-memory lists, one dump | {memory['seconds']:.1f} s (write alone "
              f"{memory['write_seconds']:.1f} s) | {memory['peak_rss_mb']:.0f} MB | {memory['bytes'] / 1e6:.1f} MB |")
        print(f"  {format}: streaming / in-memory time = {stream['seconds'] / memory['seconds']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=100_000, help="tasks per queue (one box queue, one cleanup queue)")
    parser.add_argument("--labels-per-task", type=int, default=10)
    parser.add_argument("--labelers", type=int, default=200)
    parser.add_argument("--db-name", default="shoplabel_exports_bench")
    parser.add_argument("--database-server", default=os.environ.get("DATABASE_URL", DEFAULT_SERVER_URL))
    parser.add_argument("--child", choices=("stream", "memory"), help=argparse.SUPPRESS)
    parser.add_argument("--format", help=argparse.SUPPRESS)
    parser.add_argument("--queue", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO_ROOT))
    if args.child:
        child(args)
        return
    os.environ.update(DATABASE_URL=database_url(args.database_server, args.db_name),
                      SECRET_KEY=os.environ.get("SECRET_KEY", "exports-benchmark"), DEBUG="0", LOG_LEVEL="WARNING",
                      DJANGO_SETTINGS_MODULE="config.settings", DB_CONN_MAX_AGE="0")
    recreate_database(args.database_server, args.db_name)
    try:
        run(args)
    finally:
        from django.db import connections

        connections.close_all()
        recreate_database(args.database_server, args.db_name, create=False)


if __name__ == "__main__":
    main()
