"""The KPI a new desk starts with: seed 000's "99% of emails answered by the next business day"."""

from django.db import migrations


def add(apps, schema_editor):
    KpiTarget = apps.get_model("reports", "KpiTarget")
    if not KpiTarget.objects.exists():
        KpiTarget.objects.create(name="Emails answered by the next business day",
                                 measure="answered_next_business_day", target_percent=99,
                                 channel="email", position=0)


class Migration(migrations.Migration):
    dependencies = [("reports", "0001_initial")]
    operations = [migrations.RunPython(add, migrations.RunPython.noop)]
