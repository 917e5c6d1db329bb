"""``manage.py register_default_models``: register fixtures/models/*_default.pt as V1 (idempotent)."""
from django.core.management.base import BaseCommand

from evaluation.demo import DEFAULT_CHECKPOINTS, default_models_register


class Command(BaseCommand):
    help = "Register the shipped default detector and embedder checkpoints as model versions V1."

    def handle(self, *args, **options):
        registered = default_models_register()
        for kind in DEFAULT_CHECKPOINTS:
            if kind not in registered:
                self.stdout.write(self.style.WARNING(
                    f"  {kind}: fixtures/models/{DEFAULT_CHECKPOINTS[kind]} not found; nothing registered"))
                continue
            version, created = registered[kind]
            state = "registered" if created else "already registered"
            self.stdout.write(f"  {kind}: {version.name} {version.version_tag} (#{version.pk}) {state}")
