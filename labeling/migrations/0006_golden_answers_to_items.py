from django.db import migrations


def golden_answers_to_items(apps, schema_editor):
    GoldenAnswer = apps.get_model("labeling", "GoldenAnswer")
    GoldenSet = apps.get_model("labeling", "GoldenSet")
    GoldenItem = apps.get_model("labeling", "GoldenItem")
    GoldenItemRevision = apps.get_model("labeling", "GoldenItemRevision")
    Task = apps.get_model("labeling", "Task")
    for golden in GoldenAnswer.objects.select_related("task__queue").order_by("pk"):
        queue = golden.task.queue
        golden_set, _ = GoldenSet.objects.get_or_create(
            name=f"{queue.name[:150]}: golden items (queue #{queue.pk})",
            defaults={"task_kind": queue.task_kind, "description": "Golden answers kept from before golden sets."})
        golden_set.queues.add(queue)
        source = "world_oracle" if golden.expert_id is None and golden.task.source_key.startswith("golden:") else "expert"
        item = GoldenItem.objects.create(golden_set=golden_set, key=f"task:{golden.task_id}", payload=golden.task.payload,
                                         answer=golden.answer, source=source, expert_id=golden.expert_id,
                                         reason=golden.reason)
        GoldenItemRevision.objects.create(item=item, revision=1, answer=golden.answer, reason=golden.reason,
                                          source=source, expert_id=golden.expert_id)
        Task.objects.filter(pk=golden.task_id).update(is_golden=True, golden_item=item)
    # A task flagged golden without an answer cannot be scored; it goes back to being a normal task.
    Task.objects.filter(is_golden=True, golden_item__isnull=True).update(is_golden=False)


class Migration(migrations.Migration):

    dependencies = [
        ("labeling", "0005_golden_items"),
    ]

    operations = [
        # Every old GoldenAnswer becomes a golden item of its queue's own golden set; its task stays
        # golden and serves that item (before issue 7, a golden task was a task with an answer).
        migrations.RunPython(golden_answers_to_items, migrations.RunPython.noop),
    ]
