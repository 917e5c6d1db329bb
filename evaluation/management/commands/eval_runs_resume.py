"""``manage.py eval_runs_resume``: the stalled-generation sweep by hand (evaluation/recovery.py).

Workers run the same sweep on their own (beat, and at every start); this is for an operator who
fixed a cause and wants the runs moving now, e.g. ``--stale-after 60`` after restarting workers.
"""
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from evaluation.recovery import stalled_generations_resume

STALE_AFTER_INVALID = "--stale-after must be 0 or more seconds."
MAX_RESUMES_INVALID = "--max-resumes must be 0 or more."


class Command(BaseCommand):
    help = ("Resume evaluation runs and box queue jobs whose generation stalled (pending or generating with no "
            "progress for --stale-after seconds): re-send their coordinator, which redoes only scenes not done yet. "
            "A run already resumed --max-resumes times is failed instead.")

    def add_arguments(self, parser):
        parser.add_argument("--stale-after", type=int, default=settings.EVAL_STALE_AFTER_SECONDS,
                            help="seconds without progress that make a run stalled (default EVAL_STALE_AFTER_SECONDS, "
                                 "%(default)s)")
        parser.add_argument("--max-resumes", type=int, default=settings.EVAL_MAX_RESUMES,
                            help="fail a stalled run resumed this many times already (default EVAL_MAX_RESUMES, "
                                 "%(default)s); raise it to resume such a run once more")
        parser.add_argument("--ignore-backlog", action="store_true",
                            help="resume even while messages wait on the gpu queue (the workers may just be busy)")

    def handle(self, *args, **options):
        if options["stale_after"] < 0:
            raise CommandError(STALE_AFTER_INVALID)
        if options["max_resumes"] < 0:
            raise CommandError(MAX_RESUMES_INVALID)
        report = stalled_generations_resume(stale_after=timedelta(seconds=options["stale_after"]),
                                            max_resumes=options["max_resumes"],
                                            wait_for_backlog=not options["ignore_backlog"])
        if report.gpu_backlog:
            self.stdout.write(f"{report.gpu_backlog} messages wait on the gpu queue: nothing resumed while the workers "
                              "are busy (--ignore-backlog resumes anyway).")
            return
        for label, result in (("runs", report.runs), ("box queue jobs", report.box_jobs)):
            self.stdout.write(f"{label}: resumed {_ids(result.resumed)}; failed as stalled {_ids(result.failed)}")


def _ids(ids: list[int]) -> str:
    return ", ".join(f"#{pk}" for pk in ids) if ids else "none"
