from django.core.management.base import BaseCommand

from integrations.examples import example_partners_load
from organizations.models import Organization


class Command(BaseCommand):
    help = (
        "Load the source document's example partners (Volvo dealer, Eneco, an installer) "
        "with their organizations, integrations and a few orders. Safe to run again: it "
        "adds the examples that are missing."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Only into a database without organizations (what `make run` does, so "
            "examples ops deleted do not come back on the next start).",
        )

    def handle(self, *args, if_empty: bool = False, **options):
        if if_empty and Organization.objects.exists():
            self.stdout.write(
                "Example partners not loaded: the database already has organizations "
                "(`python manage.py load_example_partners` adds the missing examples)."
            )
            return
        created = example_partners_load()
        summary = ", ".join(f"{count} {kind}" for kind, count in created.items())
        self.stdout.write(self.style.SUCCESS(f"Example partners loaded (created {summary})."))
