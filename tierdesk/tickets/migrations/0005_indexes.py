# The tickets table's indexes, cut from 17 to 10 (see docs/PERFORMANCE.md, "Rebuilding SLA rows").

import django.db.models.deletion
from django.db import migrations, models


def _statistics(apps, schema_editor):
    """PostgreSQL: tell the planner how assignee and status go together (unassigned tickets
    are mostly new), or it walks t_created past every ticket looking for an unassigned one
    in progress instead of reading t_assignee_created."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("CREATE STATISTICS IF NOT EXISTS t_assignee_status (mcv) "
                              "ON assignee_id, status FROM tickets_ticket")


def _no_statistics(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP STATISTICS IF EXISTS t_assignee_status")


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0003_provider_mandatory_intake'),
        ('tickets', '0004_search'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='ticket',
            name='t_assignee',
        ),
        migrations.RemoveIndex(
            model_name='ticket',
            name='t_status_due',
        ),
        migrations.AlterField(
            model_name='ticket',
            name='assignee',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='assigned_tickets', to='accounts.agent', verbose_name='assignee'),
        ),
        migrations.AlterField(
            model_name='ticket',
            name='category',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, to='tickets.category', verbose_name='category'),
        ),
        migrations.AlterField(
            model_name='ticket',
            name='merged_into',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='merged_from', to='tickets.ticket'),
        ),
        migrations.AlterField(
            model_name='ticket',
            name='organisation',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='tickets', to='accounts.organisation', verbose_name='organisation'),
        ),
        migrations.AlterField(
            model_name='ticket',
            name='priority',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, to='tickets.priority', verbose_name='priority'),
        ),
        migrations.AlterField(
            model_name='ticket',
            name='requester',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='requested_tickets', to='accounts.contact', verbose_name='requester'),
        ),
        migrations.AlterField(
            model_name='ticket',
            name='team',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='tickets', to='accounts.team', verbose_name='team'),
        ),
        migrations.AddIndex(
            model_name='ticket',
            index=models.Index(fields=['assignee', 'status', 'created_at'], name='t_assignee_created'),
        ),
        migrations.AddIndex(
            model_name='ticket',
            index=models.Index(condition=models.Q(('merged_into__isnull', False)), fields=['merged_into'], name='t_merged_into'),
        ),
        migrations.RunPython(_statistics, _no_statistics),
    ]
