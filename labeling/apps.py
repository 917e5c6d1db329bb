from django.apps import AppConfig


class LabelingConfig(AppConfig):
    name = "labeling"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from labeling import storage  # noqa: F401  registers the PRIVATE_ROOT system check
        from labeling.taxonomy import taxonomy_receivers_connect

        taxonomy_receivers_connect()
