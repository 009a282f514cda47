from django.conf import settings
from django.core.management.base import BaseCommand

from integrations.retention import records_prune


class Command(BaseCommand):
    help = (
        "Delete inbound events that changed no order after INBOUND_EVENT_RETENTION_DAYS and "
        "the attempt log of finished webhook deliveries after DELIVERY_ATTEMPT_RETENTION_DAYS "
        "(beat runs this daily)."
    )

    def handle(self, *args, **options):
        pruned = records_prune()
        self.stdout.write(
            f"Deleted {pruned.inbound_events} inbound event(s) older than "
            f"{settings.INBOUND_EVENT_RETENTION_DAYS or '(never)'} days and "
            f"{pruned.delivery_attempts} delivery attempt(s) older than "
            f"{settings.DELIVERY_ATTEMPT_RETENTION_DAYS or '(never)'} days."
        )
