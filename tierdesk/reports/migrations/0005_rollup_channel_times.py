"""The rollup keeps the channel's histograms too (rollup.TIMED_DIMS): reports by channel
read the rollup. Only those histograms are built; the rest of the rollup stays as it is."""

from django.db import migrations


def time_channel(apps, schema_editor):
    from tierdesk.reports import rollup

    rollup.time_also(("channel",))


class Migration(migrations.Migration):
    dependencies = [("reports", "0004_rollup")]

    operations = [migrations.RunPython(time_channel, migrations.RunPython.noop)]
