# The sign-in throttle moved to MongoDB (samembed.repositories.signins): its
# counters are single documents updated atomically, which a row per failure and
# a count before the insert could not be.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [("samembed", "0002_editors_group")]

    operations = [migrations.DeleteModel(name="LoginFailure")]
