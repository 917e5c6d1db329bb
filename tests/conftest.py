"""Test-wide set-up. Tests run on real PostgreSQL: the test command (scripts/test) sets
DATABASE_URL; settings need DEBUG or a SECRET_KEY, so give tests a fixed key."""
import os

os.environ.setdefault("SECRET_KEY", "test-secret-key")
os.environ.setdefault("DEBUG", "0")
