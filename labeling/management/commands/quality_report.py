"""``manage.py quality_report --kind KIND --labels FILE [--golden FILE] [--aggregate METHOD --out FILE]``

Reads a label export (JSON lines, docs/QUALITY_FORMATS.md), prints the kind's quality report as JSON:
the same function and the same numbers as the quality dashboard for the same labels. With
``--aggregate`` it also writes one aggregated answer per (item, unit) as JSON lines to ``--out``.
"""
from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from labeling.quality.dawid_skene import AGGREGATION_METHODS
from labeling.quality.frames import quality_frames
from labeling.quality.records import (RecordFormatError, aggregated_to_json_line, golden_answers_read,
                                      label_records_read)
from labeling.quality.aggregation import aggregated_answers
from labeling.quality.report import quality_report_from_frames
from labeling.task_kinds import task_kind_specs

AGGREGATE_NEEDS_OUT = "--aggregate needs --out FILE: where to write the aggregated answers."
FILE_NOT_FOUND = "{what} file not found: {path}"
FILE_BAD = "{path}: {error}"


def _lines(path: str, what: str):
    file = Path(path)
    if not file.is_file():
        raise CommandError(FILE_NOT_FOUND.format(what=what, path=path))
    return file.open(encoding="utf-8")


class Command(BaseCommand):
    help = "Label-quality report (consistency, accuracy, alpha, per labeler and pool) of a label export."

    def add_arguments(self, parser):
        parser.add_argument("--kind", required=True, choices=sorted(task_kind_specs()))
        parser.add_argument("--labels", required=True, help="label export: JSON lines")
        parser.add_argument("--golden", help="golden answers: JSON lines of {\"item\", \"answer\"}")
        parser.add_argument("--aggregate", choices=AGGREGATION_METHODS)
        parser.add_argument("--out", help="where --aggregate writes the aggregated answers (JSON lines)")
        parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (the dashboard uses 0)")

    def handle(self, *args, kind, labels, golden, aggregate, out, seed, **options):
        if aggregate and not out:
            raise CommandError(AGGREGATE_NEEDS_OUT)
        try:
            with _lines(labels, "Labels") as lines:
                records = label_records_read(lines, kind=kind)
        except RecordFormatError as error:
            raise CommandError(FILE_BAD.format(path=labels, error=error)) from None
        answers = {}
        if golden:
            try:
                with _lines(golden, "Golden") as lines:
                    answers = golden_answers_read(lines)
            except RecordFormatError as error:
                raise CommandError(FILE_BAD.format(path=golden, error=error)) from None
        frames = quality_frames(kind=kind, records=records, golden=answers)
        report = quality_report_from_frames(frames, seed=seed)
        if aggregate:
            aggregated = aggregated_answers(frames, method=aggregate)
            with open(out, "w", encoding="utf-8") as file:
                for row in aggregated.itertuples(index=False):
                    file.write(aggregated_to_json_line(row, method=aggregate) + "\n")
            report["aggregated"] = {"method": aggregate, "out": out, "n_rows": int(len(aggregated))}
        self.stdout.write(json.dumps(report, indent=2, default=str))
