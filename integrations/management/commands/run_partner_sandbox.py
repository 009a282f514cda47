import os
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from integrations.models import PartnerIntegration
from integrations.signing import webhook_secrets_valid_now
from integrations.sync.sandbox.partner import ChargeCarsCaller, PartnerLife
from integrations.sync.sandbox.server import SandboxConfig, SandboxServer
from integrations.sync.sandbox.world import World

SANDBOX_INTEGRATION = "chargecars_sandbox"
REFRESH_SECONDS = 5


class _Secrets:
    """What the sandbox accepts, read from the integration every few seconds (ops may
    rotate its webhook secret or change its credentials while it runs)."""

    def __init__(self, integration_name: str, fixed: dict):
        self.integration_name = integration_name
        self.fixed = fixed
        self.credentials: tuple[str, str] | None = None
        self.webhook_secrets: list[str] = []
        self.lock = threading.Lock()

    def refresh(self) -> str:
        """Reload; returns a warning when the integration is not there."""
        if self.fixed.get("client_id"):
            credentials = (self.fixed["client_id"], self.fixed["client_secret"] or "")
            secrets = [self.fixed["webhook_secret"]] if self.fixed.get("webhook_secret") else []
            warning = ""
        else:
            integration = PartnerIntegration.objects.filter(
                integration_name=self.integration_name
            ).first()
            if integration is None:
                credentials, secrets = None, []
                warning = (
                    f"No integration named {self.integration_name}: run `python manage.py "
                    "load_example_partners` to add the sandbox integration (the sandbox "
                    "picks it up within seconds)."
                )
            else:
                stored = integration.api_credentials or {}
                credentials = (
                    str(stored.get("client_id", "")),
                    str(stored.get("client_secret", "")),
                )
                secrets = webhook_secrets_valid_now(integration)
                warning = ""
        with self.lock:
            self.credentials, self.webhook_secrets = credentials, secrets
        return warning


class Command(BaseCommand):
    help = (
        "Serve a sandbox partner on 127.0.0.1: an OAuth2 token endpoint, an order feed in the "
        "default contract, a webhook receiver that verifies our signatures (its page lists "
        "what it received) and signed calls to our partner API now and then."
    )

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=settings.PARTNER_SANDBOX_PORT)
        parser.add_argument(
            "--orders",
            type=int,
            default=None,
            help="Start with N orders at once and keep them as they are (benchmarks); "
            "add --live to let them move on.",
        )
        parser.add_argument("--seed", type=int, default=1, help="Seed of the partner's choices.")
        parser.add_argument("--live", action="store_true", help="Keep the world moving.")
        parser.add_argument(
            "--tick", type=float, default=5.0, help="Seconds between two changes of the world."
        )
        parser.add_argument("--integration", default=SANDBOX_INTEGRATION)
        parser.add_argument(
            "--chargecars-url",
            # Not PORT: process managers (honcho, foreman) give each process its own.
            default=os.environ.get("CHARGECARS_URL") or "http://127.0.0.1:8000",
            help="Where our partner API is, for the sandbox's own calls to it "
            "(default: CHARGECARS_URL, which `make run` sets, else http://127.0.0.1:8000).",
        )
        parser.add_argument("--client-id", default="")
        parser.add_argument("--client-secret", default="")
        parser.add_argument("--webhook-secret", default="")
        parser.add_argument("--token-ttl", type=int, default=3600)

    def handle(self, *args, **options):
        if options["orders"] is not None and options["orders"] < 0:
            raise CommandError("--orders must be 0 or more.")
        frozen = options["orders"] is not None and not options["live"]
        fixed = {k: options[k] for k in ("client_id", "client_secret", "webhook_secret")}
        secrets = _Secrets(options["integration"], fixed)
        if warning := secrets.refresh():
            self.stderr.write(self.style.WARNING(warning))

        def current_secret() -> str | None:
            with secrets.lock:
                return secrets.webhook_secrets[0] if secrets.webhook_secrets else None

        world = World(seed=options["seed"], orders=options["orders"] or 6)
        config = SandboxConfig(
            credentials=lambda: secrets.credentials,
            webhook_secrets=lambda: list(secrets.webhook_secrets),
            token_ttl=options["token_ttl"],
        )
        try:
            server = SandboxServer(("127.0.0.1", options["port"]), world=world, config=config)
        except OSError as exc:
            raise CommandError(f"Cannot listen on 127.0.0.1:{options['port']}: {exc}") from None
        threading.Thread(target=server.serve_forever, daemon=True).start()
        if not frozen:
            caller = ChargeCarsCaller(
                base_url=options["chargecars_url"],
                integration_name=options["integration"],
                secret=current_secret,
            )
            PartnerLife(server, caller, tick=options["tick"]).start()
        self.stdout.write(
            f"Sandbox partner on {server.url} ({len(world.orders)} orders"
            f"{', frozen' if frozen else ', moving'}): feed {server.url}/orders, token "
            f"{server.url}/oauth/token, webhooks received: {server.url}/",
        )
        self.stdout.flush()
        stop = threading.Event()
        try:
            while not stop.wait(REFRESH_SECONDS):
                again = secrets.refresh()
                if again != warning:  # say it once, and when it is fixed
                    self.stderr.write(self.style.WARNING(again) if again else "Integration found.")
                    warning = again
        except KeyboardInterrupt:
            pass
        finally:
            server.shutdown()
