"""``manage.py closed_loop``: label, clean, export, train, evaluate and compare, on the demo world
(evaluation/CLOSED_LOOP.md). Run after ``manage.py demo_setup``; each run trains new versions."""
from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from evaluation.closed_loop import LoopOptions, closed_loop_run


class Command(BaseCommand):
    help = ("The closed loop on the synthetic world, with the simulated in-house pool standing in for people: "
            "clean the creators' pairs, export the cleaned matching data, fine-tune the embedder, compare offline "
            "P@1 and an end-to-end run against the default; then the single-product dataset, a fine-tuned detector "
            "and single-product mAP. Prints each step's figures.")

    def add_arguments(self, parser):
        defaults = LoopOptions()
        parser.add_argument("--seed", type=int, default=defaults.seed)
        parser.add_argument("--embedder-steps", type=int, default=defaults.embedder_steps)
        parser.add_argument("--detector-steps", type=int, default=defaults.detector_steps)
        parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
        parser.add_argument("--labels-per-labeler", type=int, default=defaults.labels_per_labeler)
        parser.add_argument("--offline-query-scenes", type=int, default=defaults.offline_query_scenes)
        parser.add_argument("--offline-distractors", type=int, default=defaults.offline_distractors)
        parser.add_argument("--offline-test-scenes", type=int, default=defaults.offline_test_scenes)
        parser.add_argument("--offline-val-scenes", type=int, default=defaults.offline_val_scenes)
        parser.add_argument("--no-detector", action="store_true", help="stop after the embedder's loop")

    def handle(self, *args, **options):
        loop_options = LoopOptions(
            seed=options["seed"], embedder_steps=options["embedder_steps"], detector_steps=options["detector_steps"],
            batch_size=options["batch_size"], labels_per_labeler=options["labels_per_labeler"],
            offline_query_scenes=options["offline_query_scenes"], offline_distractors=options["offline_distractors"],
            offline_test_scenes=options["offline_test_scenes"], offline_val_scenes=options["offline_val_scenes"],
            detector=not options["no_detector"])
        try:
            closed_loop_run(say=self.stdout.write, options=loop_options)
        except RuntimeError as error:
            raise CommandError(str(error)) from error
