import threading

import pytest

from integrations.sync.sandbox.server import SandboxConfig, SandboxServer
from integrations.sync.sandbox.world import SANDBOX_STATUS_MAPPING, World
from tests.factories import PartnerIntegrationFactory
from tests.integrations.test_tasks_worker import redis_broker, workers  # noqa: F401 - fixtures

CLIENT_ID, CLIENT_SECRET = "chargecars", "sandbox-client-secret-0123456789"


@pytest.fixture(autouse=True)
def _fast_sync(settings):
    settings.SYNC_RETRY_BACKOFF_SECONDS = 0.01
    settings.SYNC_HTTP_RETRIES = 2


@pytest.fixture
def start_sandbox():
    """Start a sandbox partner (its own thread) holding ``orders`` orders."""
    servers = []

    def start(orders: int = 0, *, seed: int = 7, world: World | None = None) -> SandboxServer:
        server = SandboxServer(
            ("127.0.0.1", 0),
            world=world or World(seed=seed, orders=orders),
            config=SandboxConfig(
                credentials=lambda: (CLIENT_ID, CLIENT_SECRET),
                webhook_secrets=lambda: [integration.webhook_secret for integration in hooked],
            ),
        )
        hooked = []
        server.hooked = hooked
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def sandbox_integration(server: SandboxServer, **overrides):
    """An oauth2 integration of the sandbox partner, as the example loader makes it."""
    values = {
        "api_base_url": server.url,
        "authentication_type": "oauth2",
        "api_credentials": {
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "token_endpoint": f"{server.url}/oauth/token",
        },
        "webhook_url": f"{server.url}/webhooks",
        "webhook_events": [],
        "status_mapping": SANDBOX_STATUS_MAPPING,
        "sync_frequency": "hourly",
        **overrides,
    }
    integration = PartnerIntegrationFactory(**values)
    server.hooked.append(integration)
    return integration


@pytest.fixture
def sandbox(start_sandbox):
    return start_sandbox(orders=25)


@pytest.fixture
def feed_integration(httpserver):
    """An api_key integration whose feed is the local pytest-httpserver."""
    return PartnerIntegrationFactory(
        api_base_url=httpserver.url_for("/v1"),
        api_credentials={"api_key": "feed-key-0123456789"},
        sync_frequency="hourly",
        webhook_events=[],
    )
