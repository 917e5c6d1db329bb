"""Settings for pytest: the real settings with a fixed test key (no key is needed in tests).
Tests still take DATABASE_URL from the environment: scripts/test points it at PostgreSQL."""
import os

os.environ.setdefault("SECRET_KEY", "test-secret-key")

from config.settings import *  # noqa: E402,F401,F403
