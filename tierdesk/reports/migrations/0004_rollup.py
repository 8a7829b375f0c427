"""The rollup of the measure rows (tierdesk/reports/rollup.py): its two tables, the partial
covering index of the live rows, and on PostgreSQL the triggers that keep the rollup and
its first build from the measure rows (`tierdesk reports rollup` does both again)."""

from django.db import migrations, models


def install(apps, schema_editor):
    from tierdesk.reports import rollup

    rollup.install()


def uninstall(apps, schema_editor):
    from tierdesk.reports import rollup

    rollup.uninstall()


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0003_provider_mandatory_intake'),
        ('reports', '0003_period_statistics'),
        ('sla', '0002_ticket_index'),
        ('tickets', '0007_prefix_indexes'),
    ]

    operations = [
        migrations.CreateModel(
            name='RollupCount',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('start', models.DateTimeField()),
                ('dim', models.CharField(max_length=12)),
                ('value', models.CharField(blank=True, max_length=40)),
                ('tickets', models.BigIntegerField(default=0)),
                ('paused_customer', models.BigIntegerField(default=0)),
                ('paused_third_party', models.BigIntegerField(default=0)),
                ('resolved', models.BigIntegerField(default=0)),
                ('reopened', models.BigIntegerField(default=0)),
                ('escalated_tier2', models.BigIntegerField(default=0)),
                ('escalated_tier3', models.BigIntegerField(default=0)),
                ('escalated_customer', models.BigIntegerField(default=0)),
                ('fr_met', models.BigIntegerField(default=0)),
                ('fr_breached', models.BigIntegerField(default=0)),
                ('fr_n', models.BigIntegerField(default=0)),
                ('rp_met', models.BigIntegerField(default=0)),
                ('rp_breached', models.BigIntegerField(default=0)),
                ('rp_n', models.BigIntegerField(default=0)),
                ('res_met', models.BigIntegerField(default=0)),
                ('res_breached', models.BigIntegerField(default=0)),
                ('res_n', models.BigIntegerField(default=0)),
                ('answered_on_time', models.BigIntegerField(default=0)),
                ('answered_late', models.BigIntegerField(default=0)),
            ],
        ),
        migrations.CreateModel(
            name='RollupTime',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('start', models.DateTimeField()),
                ('dim', models.CharField(max_length=12)),
                ('value', models.CharField(blank=True, max_length=40)),
                ('week', models.BooleanField(default=False)),
                ('target', models.PositiveSmallIntegerField()),
                ('bucket', models.PositiveSmallIntegerField()),
                ('n', models.BigIntegerField(default=0)),
            ],
        ),
        migrations.AddIndex(
            model_name='ticketmeasure',
            index=models.Index(condition=models.Q(('fr_state', 1), ('rp_state', 1), ('res_state', 1), models.Q(('answer_due_at__isnull', False), ('first_response_at__isnull', True)), _connector='OR'), fields=['created_at'], include=('fr_state', 'fr_due_at', 'rp_state', 'rp_due_at', 'res_state', 'res_due_at', 'first_response_at', 'answer_due_at', 'channel', 'priority', 'category', 'organisation', 'plan', 'assignee', 'team', 'tier'), name='rm_live'),
        ),
        migrations.AddIndex(
            model_name='rollupcount',
            index=models.Index(fields=['dim', 'start'], name='rollup_count_dim_start'),
        ),
        migrations.AddIndex(
            model_name='rolluptime',
            index=models.Index(fields=['dim', 'week', 'start'], name='rollup_time_dim_start'),
        ),
        migrations.RunPython(install, uninstall),
    ]
