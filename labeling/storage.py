"""Private file storage: files the platform needs but must never serve.

Each synthetic scene's ground truth (true product ids and boxes, from which golden grades are
computed) lives here, under ``settings.PRIVATE_ROOT``, not in ``default_storage``: everything under
``MEDIA_ROOT`` is reachable through ``/media/``, and a scene's file name (its sha256) is in every
task payload, so a sidecar there was the answer key to every golden item.

The storage reads ``PRIVATE_ROOT`` on every use (tests override it per test) and refuses to work
when that folder lies inside a served root, so a misconfiguration cannot quietly publish the key.
System check ``labeling.E010`` reports the same at start-up (``migrate``, ``runserver``, ``check``).
"""
from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import FileSystemStorage

PRIVATE_ROOT_SERVED = ("PRIVATE_ROOT ({private}) lies inside {setting} ({served}), which is served to "
                       "browsers; move it outside every served folder (see .env.example).")
PRIVATE_FILE_HAS_NO_URL = "Files in private storage are never served, so they have no URL."
PRIVATE_ROOT_SERVED_CHECK_ID = "labeling.E010"


def _served_roots() -> list[tuple[str, Path]]:
    roots = [("MEDIA_ROOT", settings.MEDIA_ROOT), ("STATIC_ROOT", settings.STATIC_ROOT)]
    roots += [("STATICFILES_DIRS", entry[1] if isinstance(entry, (list, tuple)) else entry)
              for entry in getattr(settings, "STATICFILES_DIRS", [])]
    return [(name, Path(root).resolve()) for name, root in roots if root]


def private_root_problem() -> str | None:
    """Why ``PRIVATE_ROOT`` is unsafe (it equals or lies inside a served folder), or None."""
    private = Path(settings.PRIVATE_ROOT).resolve()
    for setting, served in _served_roots():
        if private == served or served in private.parents:
            return PRIVATE_ROOT_SERVED.format(private=private, setting=setting, served=served)
    return None


@checks.register(checks.Tags.security)
def private_root_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    problem = private_root_problem()
    return [checks.Error(problem, id=PRIVATE_ROOT_SERVED_CHECK_ID)] if problem else []


class PrivateStorage(FileSystemStorage):
    """A FileSystemStorage rooted at ``settings.PRIVATE_ROOT`` with no URLs."""

    @property
    def base_location(self) -> str:
        problem = private_root_problem()
        if problem:
            raise ImproperlyConfigured(problem)
        return str(settings.PRIVATE_ROOT)

    @property
    def location(self) -> str:
        return os.path.abspath(self.base_location)

    @property
    def base_url(self) -> None:
        return None

    def url(self, name):
        raise ValueError(PRIVATE_FILE_HAS_NO_URL)


# Not world-readable: the web server never needs these files, only the platform's own processes.
private_storage = PrivateStorage(file_permissions_mode=0o640, directory_permissions_mode=0o750)
