"""Re-queue training-data exports whose worker was lost and delete orphan ``.part`` files
(labeling/exports/EXPORTS.md, "Resume")."""
from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand

from labeling.exports.jobs import STALE_AFTER, export_jobs_stalled_resume


class Command(BaseCommand):
    help = "Restart stalled training-data exports and delete orphan temporary export files."

    def add_arguments(self, parser):
        parser.add_argument("--stale-minutes", type=int, default=int(STALE_AFTER.total_seconds() // 60),
                            help="a running export started longer ago than this has lost its worker")

    def handle(self, *args, **options):
        result = export_jobs_stalled_resume(stale_after=timedelta(minutes=options["stale_minutes"]))
        self.stdout.write(f"re-queued exports: {result['resumed'] or 'none'}; "
                          f"orphan temporary files removed: {result['orphan_files_removed']}")
