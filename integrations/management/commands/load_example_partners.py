from django.core.management.base import BaseCommand

from integrations.examples import example_partners_load


class Command(BaseCommand):
    help = (
        "Load the source document's example partners (Volvo dealer, Eneco, an installer) "
        "with their organizations, integrations and a few orders. Safe to run again."
    )

    def handle(self, *args, **options):
        created = example_partners_load()
        summary = ", ".join(f"{count} {kind}" for kind, count in created.items())
        self.stdout.write(self.style.SUCCESS(f"Example partners loaded (created {summary})."))
