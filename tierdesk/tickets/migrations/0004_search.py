"""Full-text search of tickets (tierdesk.tickets.search): the SQLite FTS5 tables and their
triggers, or PostgreSQL's GIN indexes, filled from the tickets and events there are."""

from django.db import migrations


def forwards(apps, schema_editor):
    from tierdesk.tickets import search

    search.install(schema_editor.connection)


def backwards(apps, schema_editor):
    from tierdesk.tickets import search

    search.uninstall(schema_editor.connection)


class Migration(migrations.Migration):

    dependencies = [
        ("tickets", "0002_event_codes_automation"),
    ]

    operations = [
        migrations.RunPython(forwards, backwards, elidable=False),
    ]
