"""API tokens get scopes. Tokens issued before keep only `ingest`, staff users' included: the
backend's usage recorder (what tokens were issued for) keeps working, and nothing else is granted
that nobody chose. An operator widens a token in the admin or issues a new one."""

from django.db import migrations, models

LEGACY_SCOPES = ["ingest"]


def grant_ingest_only(apps, schema_editor):
    apps.get_model("accounts", "ApiToken").objects.update(scopes=LEGACY_SCOPES)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="apitoken",
            options={"verbose_name": "API token"},
        ),
        migrations.AddField(
            model_name="apitoken",
            name="scopes",
            field=models.JSONField(
                default=list, help_text="What the token may do: ingest, submit, read or admin."
            ),
        ),
        migrations.RunPython(grant_ingest_only, migrations.RunPython.noop),
    ]
