"""``manage.py simulate_labelers``: simulated labelers (programs with an error model, never people)
label through the platform's HTTP API. docs/METRICS.md ("Simulated labelers") describes them."""
from __future__ import annotations

import threading
import time

import requests
from django.core.management.base import BaseCommand, CommandError

from evaluation.simulation import SimulationCounts, simulated_labelers_ensure, simulation_run
from labeling.quality.simulation import DEMO_LABELERS_PER_POOL, DEMO_POOL_PROFILES, DEMO_SEED

SERVER_SILENT = "The server at {url} did not answer within {seconds:g} s."
PROGRESS_EVERY = 10  # labels between two progress lines of one labeler


def server_wait(*, base_url: str, seconds: float) -> bool:
    """Whether the server answers any HTTP request (a 401 is an answer) within ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            requests.get(base_url.rstrip("/") + "/login/", timeout=2)
            return True
        except requests.RequestException:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.5)


class Command(BaseCommand):
    help = ("Simulated labelers (marked as such, with an error model per task kind) label through the HTTP API: "
            "each of the three demo pools' simulated accounts claims, labels from the world's truth with its "
            "errors, skips sometimes and submits.")

    def add_arguments(self, parser):
        parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="the platform's address")
        parser.add_argument("--queue", type=int, action="append", dest="queues", metavar="ID",
                            help="a queue to work in (repeat for more); default: every queue open to each labeler")
        parser.add_argument("--per-pool", type=int, default=DEMO_LABELERS_PER_POOL, help="simulated labelers per pool")
        parser.add_argument("--labels-per-labeler", type=int, default=40, help="labels each one gives at most")
        parser.add_argument("--seed", type=int, default=DEMO_SEED, help="seeds the profiles and every choice")
        parser.add_argument("--threads", type=int, default=4, help="labelers working at once")
        parser.add_argument("--think-seconds", type=float, default=0.0, help="pause between two tasks (about)")
        parser.add_argument("--wait-for-server", type=float, default=0.0, metavar="SECONDS",
                            help="wait up to this long for the server to answer before starting")

    def handle(self, *args, **options):
        say = self.stdout.write
        base_url = options["base_url"]
        if options["wait_for_server"] > 0:
            say(f"Waiting for {base_url} ...")
            if not server_wait(base_url=base_url, seconds=options["wait_for_server"]):
                raise CommandError(SERVER_SILENT.format(url=base_url, seconds=options["wait_for_server"]))
        labelers = simulated_labelers_ensure(pools=DEMO_POOL_PROFILES, per_pool=options["per_pool"],
                                             seed=options["seed"])
        say(f"{len(labelers)} simulated labelers (a simulation, not people) start on "
            f"{'queues ' + ', '.join(map(str, options['queues'])) if options['queues'] else 'every open queue'}.")
        lock = threading.Lock()
        reported: dict[str, int] = {}

        def progress(counts: SimulationCounts) -> None:
            with lock:
                # Called after every task, skips included: a count is reported once.
                if counts.labels % PROGRESS_EVERY == 0 and reported.get(counts.username, 0) < counts.labels:
                    reported[counts.username] = counts.labels
                    say(f"    {counts.username}: {counts.labels} labels")

        results = simulation_run(base_url=base_url, queue_ids=options["queues"], labelers=labelers,
                                 max_labels_per_labeler=options["labels_per_labeler"], seed=options["seed"],
                                 think_seconds=options["think_seconds"], threads=options["threads"], progress=progress)
        self._summary(list(results.values()))

    def _summary(self, rows: list[SimulationCounts]) -> None:
        say = self.stdout.write
        header = f"{'labeler':<16} {'pool':<20} {'labels':>6} {'golden':>6} {'skipped':>7} {'no truth':>8} " \
                 f"{'refused':>7} {'s/label':>7}  note"
        say(header)
        say("-" * len(header))
        for counts in rows:
            pace = f"{counts.time_spent_ms / counts.labels / 1000:.1f}" if counts.labels else "-"
            say(f"{counts.username:<16} {counts.pool:<20} {counts.labels:>6} {counts.golden:>6} {counts.skipped:>7} "
                f"{counts.no_truth:>8} {counts.refused:>7} {pace:>7}  {counts.error}")
        total = sum(counts.labels for counts in rows)
        say(self.style.SUCCESS(f"{total} simulated labels from {len(rows)} simulated labelers."))
