"""``./scripts/serve-team``, the documented way to run the platform for a team (docs/deploy.md):
nginx round-robins over two web processes, serves static files itself and sends media only after
Django has checked access (X-Accel-Redirect); Celery workers and beat run beside them."""
from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests
from django.conf import settings
from PIL import Image as PILImage

from labeling.models import ImageKind, Role
from labeling.services.images import image_store
from labeling.services.users import user_create
from tests.evaluation.test_evaluation_worker import database_url_of_test_database
from tests.labeling.test_labeling_two_servers import free_port

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery staple"
START_SECONDS = 180


def redis_url_for_test(tmp_path: Path) -> tuple[str, subprocess.Popen | None]:
    """The CI's Redis when CELERY_BROKER_URL names one, else a private redis-server for this test."""
    configured = os.environ.get("CELERY_BROKER_URL", "")
    if configured.startswith("redis://"):
        return configured, None
    port = free_port()
    server = subprocess.Popen([shutil.which("redis-server") or "redis-server", "--port", str(port), "--save", "",
                               "--appendonly", "no", "--dir", str(tmp_path)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    return f"redis://127.0.0.1:{port}/0", server


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", (8, 8), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def signed_in(base: str) -> requests.Session:
    session = requests.Session()
    session.get(f"{base}/login/", timeout=10)
    response = session.post(f"{base}/login/", data={"username": "team-admin", "password": PASSWORD,
                                                    "csrfmiddlewaretoken": session.cookies["csrftoken"]},
                            headers={"Referer": f"{base}/login/"}, timeout=10, allow_redirects=False)
    assert response.status_code == 302, response.text[:500]
    return session


@pytest.mark.django_db(transaction=True)
def test_serve_team_runs_two_web_processes_behind_nginx_with_media_through_x_accel_redirect(tmp_path, settings):
    var_dir = tmp_path / "var"
    settings.MEDIA_ROOT = var_dir / "media"
    user_create(username="team-admin", password=PASSWORD, role=Role.ADMIN)
    image = image_store(data=png_bytes(), kind=ImageKind.PRODUCT)
    broker_url, redis_server = redis_url_for_test(tmp_path)
    port, base_port = free_port(), free_port()
    environment = dict(os.environ, VAR_DIR=str(var_dir), DATABASE_URL=database_url_of_test_database(),
                       CELERY_BROKER_URL=broker_url, SECRET_KEY=django_secret(), PORT=str(port),
                       WEB_PROCESSES="2", WEB_BASE_PORT=str(base_port), WEB_WORKERS="1", GPU_WORKERS="1",
                       SKIP_MIGRATE="1", MODELS_DEVICE="cpu", DEBUG="0")
    team = subprocess.Popen(["./scripts/serve-team"], cwd=ROOT, env=environment, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        upstreams = wait_for_both_upstreams(base, team)
        assert len(upstreams) == 2

        static = requests.get(f"{base}/static/frontend/app.css", timeout=10)
        assert static.status_code == 200 and "X-Upstream" not in static.headers, "nginx serves static files itself"

        session = signed_in(base)
        media_url = f"{base}{settings.MEDIA_URL}{image.file.name}"
        media = session.get(media_url, timeout=10)
        assert media.status_code == 200
        assert media.content == png_bytes(), "nginx sent the file Django allowed through X-Accel-Redirect"
        assert requests.get(media_url, timeout=10).status_code == 401, "no media without signing in"
        protected = requests.get(f"{base}{settings.MEDIA_ACCEL_PREFIX}{image.file.name}", timeout=10)
        assert protected.status_code == 404, "the internal location cannot be asked for directly"

        logs = var_dir / "team"
        for name in ("worker-default.log", "worker-gpu.log", "beat.log", "nginx.conf"):
            assert (logs / name).exists(), name
        assert team.poll() is None, "every process of the team is still running"
    finally:
        os.killpg(team.pid, signal.SIGTERM)
        try:
            team.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(team.pid, signal.SIGKILL)
        if redis_server is not None:
            os.killpg(redis_server.pid, signal.SIGTERM)


def django_secret() -> str:
    return settings.SECRET_KEY


def wait_for_both_upstreams(base: str, team: subprocess.Popen) -> set[str]:
    seen: set[str] = set()
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline and len(seen) < 2:
        if team.poll() is not None:
            raise AssertionError("serve-team stopped:\n" + team.stdout.read().decode(errors="replace")[-3000:])
        try:
            response = requests.get(f"{base}/login/", timeout=5)
            if response.status_code == 200:
                seen.add(response.headers.get("X-Upstream", ""))
                continue
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    seen.discard("")
    if len(seen) < 2:
        raise AssertionError(f"nginx did not reach both web processes in time (saw {seen})")
    return seen
