from django.core.management.base import BaseCommand

from integrations.encryption import reencrypt_all


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret under the newest FIELD_ENCRYPTION_KEY. "
        "Rotation: put the new key first in FIELD_ENCRYPTION_KEY (new,old), run this, "
        "then remove the old key."
    )

    def handle(self, *args, **options):
        for table, count in reencrypt_all().items():
            self.stdout.write(f"{table}: {count} row(s) re-encrypted")
        self.stdout.write(self.style.SUCCESS("All secrets are now encrypted with the newest key."))
