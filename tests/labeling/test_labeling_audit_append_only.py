"""The audit trail is append-only in PostgreSQL itself (migration 0012), not only in the model: a
queryset update or delete, or raw SQL, is refused, while deleting the actor's account still nulls
the actor as ``on_delete=SET_NULL`` does. Creating a user is itself an audited event."""
from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client

from labeling.calibration.audit import AuditAction, audit_events, audit_record
from labeling.models import AuditEvent, Role, User
from labeling.services.users import user_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def event(make_user):
    expert = make_user(Role.EXPERT)
    return audit_record(actor=expert, action=AuditAction.LABELER_CLEARED, target=("labeling.user", 7),
                        details={"reason": "re-qualified"})


def _refused(statement) -> str:
    with pytest.raises(DatabaseError) as refusal, transaction.atomic():
        statement()
    return str(refusal.value)


def test_a_queryset_update_of_an_event_is_refused_by_the_database(event):
    message = _refused(lambda: AuditEvent.objects.filter(pk=event.pk).update(details={"reason": "forged"}))
    assert "The audit log is append-only" in message
    assert AuditEvent.objects.get(pk=event.pk).details == {"reason": "re-qualified"}


def test_a_queryset_delete_of_an_event_is_refused_by_the_database(event):
    assert "append-only" in _refused(lambda: AuditEvent.objects.filter(pk=event.pk).delete())
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_raw_sql_cannot_rewrite_an_event(event):
    def rewrite():
        with connection.cursor() as cursor:
            cursor.execute("UPDATE labeling_auditevent SET action = %s WHERE id = %s", ["forged", event.pk])

    assert "append-only" in _refused(rewrite)
    assert AuditEvent.objects.get(pk=event.pk).action == AuditAction.LABELER_CLEARED


def test_nulling_the_actor_while_changing_anything_else_is_refused(event):
    assert "append-only" in _refused(
        lambda: AuditEvent.objects.filter(pk=event.pk).update(actor=None, target_id="8"))
    assert AuditEvent.objects.get(pk=event.pk).actor_id == event.actor_id


def test_deleting_the_actor_keeps_the_event_with_no_actor(event):
    actor_id = event.actor_id
    User.objects.filter(pk=actor_id).delete()
    kept = AuditEvent.objects.get(pk=event.pk)
    assert (kept.actor_id, kept.action, kept.details) == (None, AuditAction.LABELER_CLEARED, {"reason": "re-qualified"})


def test_user_create_records_who_made_whom_with_role_and_pool(make_user, in_house_pool):
    admin = make_user(Role.ADMIN)
    person = user_create(username="new-labeler", password="pw-123456", role=Role.LABELER, pool=in_house_pool,
                         created_by=admin)
    simulated = user_create(username="sim-x-1", password="pw-123456", role=Role.LABELER, pool=in_house_pool,
                            is_simulated=True)
    events = {e.target_id: e for e in audit_events(action=AuditAction.USER_CREATED)}
    made = events[str(person.pk)]
    assert (made.actor, made.target_type) == (admin, "labeling.user")
    assert made.details == {"username": "new-labeler", "role": Role.LABELER, "pool": in_house_pool.pk,
                            "simulated": False}
    assert events[str(simulated.pk)].actor is None and events[str(simulated.pk)].details["simulated"] is True
    assert User.objects.get(pk=simulated.pk).is_simulated


def test_a_user_added_in_the_admin_is_audited(make_user, in_house_pool):
    admin = make_user(Role.ADMIN)
    User.objects.filter(pk=admin.pk).update(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(admin)
    response = client.post("/admin/labeling/user/add/", {
        "username": "added-in-admin", "password1": "a-long-pass-phrase-41", "password2": "a-long-pass-phrase-41",
        "usable_password": "true", "role": Role.LABELER, "pool": in_house_pool.pk})
    assert response.status_code == 302, response.content.decode()[:2000]
    added = User.objects.get(username="added-in-admin")
    event = audit_events(action=AuditAction.USER_CREATED).get(target_id=str(added.pk))
    assert event.actor == admin and event.details["role"] == Role.LABELER and event.details["pool"] == in_house_pool.pk
