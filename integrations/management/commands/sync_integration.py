from django.core.management.base import BaseCommand, CommandError

from integrations.models import SYNC_RUN_COUNTERS, PartnerIntegration, SyncRunStatus, SyncTrigger
from integrations.sync.run import sync_run


def run_summary(run) -> str:
    counts = ", ".join(
        f"{getattr(run, name)} {name.removeprefix('records_')}" for name in SYNC_RUN_COUNTERS
    )
    seconds = run.duration_seconds or 0.0
    text = (
        f"Sync of {run.integration} {run.status} in {seconds:.1f} s: {run.pages} pages, "
        f"{counts}; {run.deliveries_pushed} deliveries pushed; {run.http_requests} HTTP "
        f"requests ({run.http_failures} failed)."
    )
    if run.error:
        text += f"\n{run.error}"
    for skipped in run.skipped_records[:10]:
        text += f"\n  skipped {skipped.get('partner_order_id') or '(no id)'}: {skipped['reason']}"
    if run.records_skipped > 10:
        text += f"\n  ... {run.records_skipped - 10} more skipped (see the run in the admin)"
    return text


class Command(BaseCommand):
    help = (
        "Run one sync of an integration now, in the foreground, through the same code as the "
        "scheduled one; prints the run's summary and exits non-zero when it failed."
    )

    def add_arguments(self, parser):
        parser.add_argument("integration_name")
        parser.add_argument(
            "--full",
            action="store_true",
            help="Re-read the whole feed, not only what changed since the last sync.",
        )

    def handle(self, *args, integration_name: str, full: bool = False, **options):
        integration = PartnerIntegration.objects.filter(integration_name=integration_name).first()
        if integration is None:
            raise CommandError(f"No integration named {integration_name!r}.")
        attempt = sync_run(integration=integration, trigger=SyncTrigger.MANUAL, full=full)
        if attempt.run is None:
            raise CommandError(attempt.refused)
        summary = run_summary(attempt.run)
        if attempt.run.status == SyncRunStatus.FAILED:
            self.stdout.write(summary)
            raise CommandError(f"The sync of {integration_name} failed.")
        style = self.style.SUCCESS if attempt.run.status == SyncRunStatus.SUCCEEDED else str
        self.stdout.write(style(summary))
