from pathlib import Path

import pytest
from django.db import connection, connections

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def _allow_orm_beside_playwright(monkeypatch):
    # Playwright's sync API runs an asyncio loop in this thread; Django would then refuse
    # ORM calls from the test body. The test and the live server never share a connection.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def page(_allow_orm_beside_playwright):
    if not CHROMIUM.exists():
        pytest.skip(f"Debian chromium not installed at {CHROMIUM}: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        context = browser.new_context()
        context.set_default_timeout(15_000)
        try:
            yield context.new_page()
        finally:
            context.close()
            browser.close()
            # A connection opened while Playwright's loop ran outlives the test otherwise
            # and keeps PostgreSQL from dropping the test database at the end of the run.
            connections.close_all()


@pytest.fixture
def static_responses(page):
    """Every /static/ response the page loads, as (url, status)."""
    seen: list[tuple[str, int]] = []
    page.on(
        "response",
        lambda response: (
            seen.append((response.url, response.status)) if "/static/" in response.url else None
        ),
    )
    return seen


def stored_integration_column(column: str, integration_name: str) -> str:
    """A partner integration's column as the database holds it (ciphertext for secrets)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {column} FROM partner_integrations WHERE integration_name = %s",
            [integration_name],
        )
        return cursor.fetchone()[0]


# The sandbox partner, as the sync tests start it.
from tests.integrations.sync.conftest import start_sandbox  # noqa: E402, F401
