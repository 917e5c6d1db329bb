"""``manage.py import_world``: import the synthetic shop-the-look world (idempotent)."""
from django.core.management.base import BaseCommand

from labeling.services.world_import import SCENE_SPLITS, world_import


class Command(BaseCommand):
    help = "Import the deterministic synthetic world: taxonomy, attributes, catalogue and a scene set."

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--products", type=int, default=2000)
        parser.add_argument("--scenes", type=int, default=400)
        parser.add_argument("--scene-split", choices=SCENE_SPLITS, default="test",
                            help="import the test split's scenes (default) or all scenes")

    def handle(self, *args, **options):
        def progress(stage: str, done: int, total: int) -> None:
            self.stdout.write(f"  {stage}: {done}/{total}")

        result = world_import(seed=options["seed"], n_products=options["products"], n_scenes=options["scenes"],
                              scene_split=options["scene_split"], progress=progress)
        self.stdout.write(self.style.SUCCESS(
            f"World imported in {result.seconds:.1f} s: {result.products_created} new products "
            f"({result.products_total} in the world), {result.categories_created} new categories, "
            f"{result.attributes_created} new attributes, scene set #{result.scene_set_id} with "
            f"{result.scenes_in_set} scenes."))
