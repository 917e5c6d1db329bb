"""A scratch PostgreSQL database for a benchmark: its URL on a server, and dropping and creating it."""
from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def database_url(server_url: str, name: str) -> str:
    """``server_url`` (any database on the server) with its database name replaced by ``name``."""
    parts = urlsplit(server_url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def recreate_database(server_url: str, name: str, *, create: bool = True) -> None:
    """Drop ``name`` (closing its connections), then create it again unless ``create`` is false."""
    import psycopg

    with psycopg.connect(database_url(server_url, "postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if create:
            admin.execute(f'CREATE DATABASE "{name}"')
