# The SLA rows lose their ticket index: the (ticket, target) unique constraint serves it.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('sla', '0001_initial'),
        ('tickets', '0002_event_codes_automation'),
    ]

    operations = [
        migrations.AlterField(
            model_name='ticketsla',
            name='ticket',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='sla_rows', to='tickets.ticket'),
        ),
    ]
