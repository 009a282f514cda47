from django.conf import settings
from django.core.management.base import BaseCommand

from integrations.retention import records_prune


def _summary(count: int, what: str, name: str) -> str:
    days = getattr(settings, name)
    if not days:
        return f"Kept every {what} ({name}=0)."
    return f"Deleted {count} {what}(s) older than {days} days."


class Command(BaseCommand):
    help = (
        "Delete inbound events that changed no order after INBOUND_EVENT_RETENTION_DAYS and "
        "the attempt log of finished webhook deliveries after DELIVERY_ATTEMPT_RETENTION_DAYS "
        "(beat runs this daily)."
    )

    def handle(self, *args, **options):
        pruned = records_prune()
        self.stdout.write(
            _summary(pruned.inbound_events, "inbound event", "INBOUND_EVENT_RETENTION_DAYS")
        )
        self.stdout.write(
            _summary(
                pruned.delivery_attempts, "delivery attempt", "DELIVERY_ATTEMPT_RETENTION_DAYS"
            )
        )
