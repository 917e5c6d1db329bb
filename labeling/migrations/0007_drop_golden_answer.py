from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("labeling", "0006_golden_answers_to_items"),
    ]

    operations = [
        migrations.AddConstraint(
            model_name='task',
            constraint=models.CheckConstraint(condition=models.Q(('is_golden', False), ('golden_item__isnull', False), _connector='OR'), name='task_golden_has_item'),
        ),
        migrations.RemoveField(
            model_name='goldenanswer',
            name='expert',
        ),
        migrations.RemoveField(
            model_name='goldenanswer',
            name='task',
        ),
        migrations.DeleteModel(
            name='GoldenAnswer',
        ),
    ]
