"""The editors group: members may use the studio (admins are superusers)."""

from django.db import migrations


def create_group(apps, schema_editor):  # type: ignore[no-untyped-def]
    apps.get_model("auth", "Group").objects.get_or_create(name="editors")


class Migration(migrations.Migration):
    dependencies = [("samembed", "0001_login_failures"), ("auth", "0012_alter_user_first_name_max_length")]
    operations = [migrations.RunPython(create_group, migrations.RunPython.noop)]
