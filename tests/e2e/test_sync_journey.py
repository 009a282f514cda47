"""An ops person follows a partner's sync in a real browser: Sync now on the integration's
page, the run it made, the drift report, and a custom partner's feed mapping previewed."""

import json
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from integrations.models import FeedMapping, SyncRun
from integrations.sync.sandbox.world import INSTALLED
from tests.integrations.sync.conftest import sandbox_integration

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).parent / "artifacts"
PASSWORD = "correct-horse-battery"


@pytest.fixture
def eager_tasks():
    # Sync now queues a task; the live server runs it in-process, as a worker would.
    from chargecars.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


def test_ops_syncs_a_partner_now_and_follows_the_run_and_the_drift(
    live_server, page, start_sandbox, eager_tasks
):
    sandbox = start_sandbox(orders=12)
    integration = sandbox_integration(sandbox, integration_name="chargecars_sandbox")
    drifting = next(iter(sandbox.world.orders.values()))
    User.objects.create_superuser("ops", "ops@chargecars.example", PASSWORD)
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("#id_username", "ops")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")

    change_url = f"{live_server.url}/admin/integrations/partnerintegration/{integration.pk}/change/"
    page.goto(change_url)
    expect(page.locator("fieldset", has_text="Sync runs, drift and feed")).to_contain_text(
        "No sync yet."
    )
    page.click("#sync-now")

    expect(page.locator(".messagelist .success")).to_have_text(
        "Sync of chargecars_sandbox started; its run appears under Sync runs."
    )
    panel = page.locator("fieldset", has_text="Sync runs, drift and feed")
    expect(panel).to_contain_text("12 pulled, 12 created, 0 updated, 0 skipped, 0 drift")
    expect(panel).to_contain_text("Feed: the default contract")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "sync_integration_page.png", full_page=True)

    # The partner jumps one order to INSTALLED: the next sync reports drift, not a forced move.
    sandbox.world.order_move(drifting.partner_order_id, INSTALLED)
    page.click("#sync-now")
    expect(panel).to_contain_text("1 pulled, 0 created, 0 updated, 0 skipped, 1 drift")
    page.click("text=1 orders in drift")
    expect(page.locator("#drift-per-integration")).to_contain_text("chargecars_sandbox (1)")
    row = page.locator("#result_list tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(drifting.partner_order_id)
    expect(row).to_contain_text("INSTALLED")
    expect(row).to_contain_text("completed")
    page.screenshot(path=ARTIFACTS / "sync_drift_report.png", full_page=True)

    page.goto(f"{live_server.url}/admin/integrations/syncrun/")
    expect(page.locator("#result_list tbody tr")).to_have_count(2)
    page.locator("#result_list tbody tr").last.locator("th a").click()
    expect(page.locator("body")).to_contain_text("HTTP requests to the partner")
    expect(page.locator("body")).to_contain_text(f"{sandbox.url}/oauth/token")
    assert SyncRun.objects.filter(started_by__username="ops").count() == 2


def test_ops_previews_a_custom_partners_feed_mapping_before_saving_it(
    live_server, page, start_sandbox
):
    sandbox = start_sandbox(orders=0)
    integration = sandbox_integration(sandbox, integration_name="installer_x_api")
    User.objects.create_superuser("ops", "ops@chargecars.example", PASSWORD)
    page.goto(f"{live_server.url}/admin/login/?next=/admin/integrations/feedmapping/add/")
    page.fill("#id_username", "ops")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")

    page.goto(f"{live_server.url}/admin/integrations/feedmapping/add/?integration={integration.pk}")
    page.fill("#id_path", "api/v2/jobs")
    page.fill("#id_items_key", "data.items")
    mapping = {
        "partner_order_id": "id",
        "status": "state.code",
        "updated_at": "modified",
        "customer_name": "customer.name",
        "charger_model": "lines.0.sku",
    }
    page.fill("#id_field_mapping", json.dumps(mapping, indent=2))
    sample = {
        "id": "JOB-77",
        "state": {"code": "INSTALL_PLANNED"},
        "modified": "2025-06-01T10:30:00+02:00",
        "customer": {"name": "Fleur Bakker"},
        "lines": [{"sku": "ALFEN-EVE"}],
    }
    page.fill("#id_sample_record", json.dumps(sample))
    page.click("input[name=_preview]")

    preview = page.locator("#mapping-preview")
    expect(preview).to_contain_text("Order JOB-77, partner status INSTALL_PLANNED (ours: approved)")
    expect(preview.locator("tr", has_text="charger_model")).to_contain_text("ALFEN-EVE")
    assert not FeedMapping.objects.exists()
    page.screenshot(path=ARTIFACTS / "sync_mapping_preview.png", full_page=True)

    page.fill("#id_sample_record", json.dumps({**sample, "state": {"code": "SHIPPED"}}))
    page.click("input[name=_preview]")
    expect(preview.locator(".errornote")).to_contain_text("Unknown status 'SHIPPED'")

    page.click("input[name=_save]")
    expect(page.locator(".messagelist .success")).to_contain_text("was added successfully")
    saved = FeedMapping.objects.get(integration=integration)
    assert (saved.path, saved.items_key, saved.field_mapping) == (
        "api/v2/jobs",
        "data.items",
        mapping,
    )
