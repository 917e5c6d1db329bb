"""The audit trail is append-only in the database too, not only in ``AuditEvent.save``/``delete``:
on PostgreSQL a trigger refuses every UPDATE and DELETE of a row, so a queryset ``update()``,
``delete()`` or raw SQL cannot rewrite history. The one UPDATE it lets through is the one Django
runs when the actor's account is deleted (``on_delete=SET_NULL``): ``actor_id`` set to NULL with
every other column unchanged. TRUNCATE (a test database's flush) is a statement, not a row change,
and is not refused. SQLite, the embedded default, keeps the model-level guard only."""
from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION labeling_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.actor_id IS NULL AND OLD.actor_id IS NOT NULL
       AND NEW.id = OLD.id AND NEW.action = OLD.action AND NEW.target_type = OLD.target_type
       AND NEW.target_id = OLD.target_id AND NEW.details = OLD.details AND NEW.created_at = OLD.created_at THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'The audit log is append-only: an event is never changed or deleted.'
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER labeling_auditevent_append_only
    BEFORE UPDATE OR DELETE ON labeling_auditevent
    FOR EACH ROW EXECUTE FUNCTION labeling_auditevent_append_only();
"""
REVERSE = """
DROP TRIGGER IF EXISTS labeling_auditevent_append_only ON labeling_auditevent;
DROP FUNCTION IF EXISTS labeling_auditevent_append_only();
"""


def _trigger_create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTION)


def _trigger_drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(REVERSE)


class Migration(migrations.Migration):

    dependencies = [
        ("labeling", "0011_data_imports_and_exports"),
    ]

    operations = [migrations.RunPython(_trigger_create, _trigger_drop)]
