"""SQLite: the search index is no longer written by every write (migration 0004's triggers
took a ticket's whole document out and put it in again, in the writer's transaction);
writes now mark the ticket's document stale and `search.catch_up` (the worker, and
every search first) indexes it again. The index keeps its own copy of the documents for
that. Filled at the end of this `migrate` (post_migrate, `search.repair`). PostgreSQL:
nothing changes (its GIN indexes are the database's own)."""

from django.db import migrations


def forwards(apps, schema_editor):
    from tierdesk.tickets import search

    search.recreate(schema_editor.connection)


class Migration(migrations.Migration):

    dependencies = [
        ("tickets", "0005_indexes"),
    ]

    operations = [
        # Backwards: the index stays as this code needs it (0004's backwards drops it).
        migrations.RunPython(forwards, migrations.RunPython.noop, elidable=False),
    ]
