"""Tell PostgreSQL's planner how many groups a report's period key makes (no data changes).

A report groups the measure rows by the creation truncated to a day, week or month in
a time zone (the surveys by the resolution). PostgreSQL has no statistics for such an
expression and takes the number of distinct instants instead: one group per row, a
million at 1,000,000 tickets. With that guess it never splits the counting between
parallel workers (each would hand on as many partial groups as rows) and runs it on
one core. A report has a few hundred periods at most, so the columns' statistics say
100 distinct values (`n_distinct`, read by ANALYZE, which runs here once; autovacuum
keeps it). Ranges on these columns, which use the histogram, are estimated as before.
Measured in docs/PERFORMANCE.md ("Reports"). Nothing to do on SQLite.
"""

from django.db import migrations

COLUMNS = (("reports_ticketmeasure", "created_at"), ("reports_satisfactionsurvey", "resolved_at"))


def hint(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, column in COLUMNS:
        schema_editor.execute(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" SET (n_distinct = 100)')
        schema_editor.execute(f'ANALYZE "{table}"')


def unhint(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, column in COLUMNS:
        schema_editor.execute(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" RESET (n_distinct)')
        schema_editor.execute(f'ANALYZE "{table}"')


class Migration(migrations.Migration):
    dependencies = [("reports", "0002_default_kpi")]
    operations = [migrations.RunPython(hint, unhint)]
