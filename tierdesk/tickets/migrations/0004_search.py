"""Full-text search of tickets (tierdesk.tickets.search). PostgreSQL: the GIN indexes, built
from the rows there are. SQLite: the FTS5 table; its view and triggers are added, and
it is filled from the tickets and events there are, at the end of this `migrate`
(post_migrate, `search.repair`)."""

from django.db import migrations


def forwards(apps, schema_editor):
    from tierdesk.tickets import search

    search.create(schema_editor.connection)


def backwards(apps, schema_editor):
    from tierdesk.tickets import search

    search.uninstall(schema_editor.connection)


class Migration(migrations.Migration):

    dependencies = [
        ("tickets", "0003_hook_work"),
    ]

    operations = [
        migrations.RunPython(forwards, backwards, elidable=False),
    ]
