"""Two indexes another index already holds: the events' and the hook work's single-column
index on `ticket_id` (`ev_ticket_at` and `hookwork_ticket` lead with it, so every query
that used them uses those). Dropped by name: on SQLite, altering the field would remake
the table (a copy of every event) and lose the search index's triggers on it."""

import django.db.models.deletion
from django.db import migrations, models

EVENT_INDEX = "tickets_ticketevent_ticket_id_b572d14b"
HOOK_INDEX = "tickets_hookwork_ticket_id_7bbbc4b2"


class Migration(migrations.Migration):

    dependencies = [
        ("tickets", "0006_search_catch_up"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="hookwork",
                    name="ticket",
                    field=models.ForeignKey(db_index=False,
                                            on_delete=django.db.models.deletion.CASCADE,
                                            related_name="+", to="tickets.ticket"),
                ),
                migrations.AlterField(
                    model_name="ticketevent",
                    name="ticket",
                    field=models.ForeignKey(db_index=False,
                                            on_delete=django.db.models.deletion.CASCADE,
                                            related_name="events", to="tickets.ticket"),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{HOOK_INDEX}"',
                    reverse_sql=f'CREATE INDEX "{HOOK_INDEX}" ON "tickets_hookwork" ("ticket_id")'),
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{EVENT_INDEX}"',
                    reverse_sql=f'CREATE INDEX "{EVENT_INDEX}" ON "tickets_ticketevent" '
                                '("ticket_id")'),
            ],
        ),
    ]
