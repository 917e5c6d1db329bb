"""The user and queue services."""
from __future__ import annotations

import pytest

from labeling.models import Guide, GuideVersion, Role
from labeling.services.queues import (
    GOLDEN_RATE_NOT_SHARE,
    GUIDE_KIND_MISMATCH,
    REPLICATION_NOT_POSITIVE,
    TASK_KIND_UNKNOWN,
    QueueCreateError,
    queue_create,
)
from labeling.services.users import LABELER_NEEDS_POOL, ROLE_UNKNOWN, USERNAME_TAKEN, UserCreateError, user_create

pytestmark = pytest.mark.django_db


def test_user_create_stores_role_pool_and_a_usable_password(in_house_pool):
    user = user_create(username="ana", password="pw-123456", role=Role.LABELER, pool=in_house_pool)
    assert (user.role, user.pool_id) == (Role.LABELER, in_house_pool.pk)
    assert user.check_password("pw-123456")


def test_user_create_refuses_a_labeler_without_pool_an_unknown_role_and_a_taken_name(in_house_pool):
    with pytest.raises(UserCreateError, match=LABELER_NEEDS_POOL):
        user_create(username="ana", password="pw", role=Role.LABELER)
    with pytest.raises(UserCreateError) as unknown:
        user_create(username="ana", password="pw", role="boss")
    assert str(unknown.value) == ROLE_UNKNOWN.format(role="boss", roles=", ".join(Role.values))
    user_create(username="ana", password="pw", role=Role.EXPERT)
    with pytest.raises(UserCreateError) as taken:
        user_create(username="ana", password="pw", role=Role.EXPERT)
    assert str(taken.value) == USERNAME_TAKEN.format(username="ana")


def test_queue_create_sets_pools_and_options(in_house_pool, crowd_pool):
    queue = queue_create(name="q", task_kind="relevance", replication=5, golden_rate=0.1,
                         allowed_pools=[in_house_pool, crowd_pool], lease_seconds=120)
    assert set(queue.allowed_pools.all()) == {in_house_pool, crowd_pool}
    assert (queue.replication, queue.golden_rate, queue.lease_seconds) == (5, 0.1, 120)


@pytest.mark.parametrize("options,message", [
    ({"task_kind": "sketch"}, TASK_KIND_UNKNOWN.format(kind="sketch", kinds="bounding_boxes, attributes, relevance, matching_pair")),
    ({"replication": 0}, REPLICATION_NOT_POSITIVE),
    ({"golden_rate": 1.5}, GOLDEN_RATE_NOT_SHARE),
])
def test_queue_create_refuses_bad_options(options, message):
    with pytest.raises(QueueCreateError) as refused:
        queue_create(**({"name": "q", "task_kind": "relevance"} | options))
    assert str(refused.value) == message


def test_queue_create_refuses_a_guide_for_another_task_kind():
    version = GuideVersion.objects.create(guide=Guide.objects.create(task_kind="bounding_boxes", title="Boxes"),
                                          version=1, body="")
    with pytest.raises(QueueCreateError) as refused:
        queue_create(name="q", task_kind="relevance", guide_version=version)
    assert str(refused.value) == GUIDE_KIND_MISMATCH.format(guide_kind="bounding_boxes", queue_kind="relevance")
