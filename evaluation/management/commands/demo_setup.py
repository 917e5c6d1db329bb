"""``manage.py demo_setup``: everything a demo needs, after ``migrate``; safe to run again."""
from django.core.management.base import BaseCommand

from evaluation import demo
from evaluation.models import EvalRunStatus, ModelKind
from evaluation.services import eval_run_create, eval_run_generate_all
from labeling.models import SceneSet, User
from labeling.services.world_import import world_import


class Command(BaseCommand):
    help = ("Import the synthetic world, register the default models, create one account per role, simulated "
            "labelers, a guide per task kind, one evaluation run generated in this process and a pre-annotated box "
            "queue.")

    def add_arguments(self, parser):
        parser.add_argument("--products", type=int, default=2000)
        parser.add_argument("--scenes", type=int, default=400)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--no-run", action="store_true", help="skip creating and generating the demo run")

    def handle(self, *args, **options):
        say = self.stdout.write
        say("1/9 Importing the synthetic world ...")
        imported = world_import(seed=options["seed"], n_products=options["products"], n_scenes=options["scenes"],
                                progress=lambda stage, done, total: say(f"    {stage}: {done}/{total}"))
        say(f"    {imported.products_total} products ({imported.products_created} new), "
            f"{imported.scenes_in_set} scenes in the demo set, {imported.seconds:.1f} s")

        say("2/9 Accounts ...")
        accounts = demo.demo_accounts_ensure()
        engineer = User.objects.get(username="engineer1")

        say("3/9 Simulated labelers (programs with an error model, marked as simulated) ...")
        simulated = demo.demo_simulated_labelers_ensure()
        for pool in dict.fromkeys(user.pool.name for user, _ in simulated):
            names = [user.username for user, _ in simulated if user.pool.name == pool]
            say(f"    {pool}: {', '.join(names)}")

        say("4/9 Models ...")
        models = demo.default_models_register(created_by=engineer)
        if len(models) < len(demo.DEFAULT_CHECKPOINTS):
            self.stdout.write(self.style.WARNING(
                "    No trained default checkpoints in fixtures/models; registering untrained V0 stand-ins."))
            models = demo.untrained_models_register(created_by=engineer)
        for kind, (version, created) in models.items():
            say(f"    {kind}: {version.name} {version.version_tag} (#{version.pk}){'' if created else ' (existing)'}")

        say("5/9 Guides ...")
        for guide_version in demo.guides_ensure(author=User.objects.get(username="expert1")):
            say(f"    {guide_version}")

        if options["no_run"]:
            say("6/9 Demo run skipped (--no-run).")
            say("7/9 Demo box queue skipped (--no-run).")
            say("8/9 Demo attribute queue skipped (--no-run).")
            say("9/9 Demo cleanup queue skipped (--no-run).")
        else:
            say("6/9 Demo evaluation run ...")
            self._demo_run(models, imported.scene_set_id, engineer)
            say("7/9 Demo box queue (pre-annotated by the detector) ...")
            job = demo.demo_box_queue_ensure(
                scene_set=SceneSet.objects.get(pk=imported.scene_set_id), detector=models[ModelKind.DETECTOR][0],
                engineer=engineer, progress=lambda done, total: say(f"    scenes: {done}/{total}"))
            say(f"    queue #{job.queue_id} '{job.queue.name}': {job.get_status_display()}, {job.scenes_done} scenes, "
                f"{job.queue.tasks.filter(is_golden=True).count()} golden tasks")
            say("8/9 Demo attribute queue (crops of the detector's boxes) ...")
            queue = demo.demo_attribute_queue_ensure(
                box_job=job, scene_set=SceneSet.objects.get(pk=imported.scene_set_id), engineer=engineer)
            if queue is None:
                say("    skipped: the detector found nothing to crop")
            else:
                say(f"    queue #{queue.pk} '{queue.name}': {queue.tasks.filter(is_golden=False).count()} crops, "
                    f"{queue.tasks.filter(is_golden=True).count()} golden tasks")
            say("9/9 Demo cleanup queue (synthetic creator pairs with recorded noise) ...")
            queue = demo.demo_cleanup_queue_ensure(seed=options["seed"], n_products=options["products"],
                                                   engineer=engineer)
            say(f"    queue #{queue.pk} '{queue.name}': {queue.tasks.filter(is_golden=False).count()} pairs, "
                f"{queue.tasks.filter(is_golden=True).count()} golden tasks")

        say(self.style.SUCCESS("Demo ready. Accounts (username / password / role / pool):"))
        for account in accounts:
            say(f"    {account.username:<10} {account.password}  {account.role:<9} {account.pool or ''}")

    def _demo_run(self, models, scene_set_id, engineer):
        detector, embedder = models[ModelKind.DETECTOR][0], models[ModelKind.EMBEDDER][0]
        scene_set = SceneSet.objects.get(pk=scene_set_id)
        name = demo.demo_run_name(detector=detector, embedder=embedder)
        run = demo.demo_run_get(name=name, scene_set=scene_set)
        if run is None:
            run = eval_run_create(created_by=engineer, name=name, scene_set=scene_set, detector=detector,
                                  embedder=embedder, replication=3, golden_rate=0.1, start_generation=False)
        if run.status == EvalRunStatus.LABELING:
            self.stdout.write(f"    run #{run.pk} '{run.name}' already generated ({run.scenes_done} scenes)")
            return
        run = eval_run_generate_all(
            run_id=run.pk, progress=lambda done, total: self.stdout.write(f"    scenes: {done}/{total}"))
        n_tasks = run.queue.tasks.filter(is_golden=False).count()
        self.stdout.write(f"    run #{run.pk} '{run.name}': {run.status}, {run.query_objects.count()} query objects, "
                          f"{n_tasks} relevance tasks in queue #{run.queue_id}")
