import json
import multiprocessing

import pytest

from integrations.models import InboundEvent
from orders.models import Order
from tests.integrations.conftest import order_payload

pytestmark = pytest.mark.django_db


def test_a_body_over_the_limit_answers_413(partner, settings):
    settings.PARTNER_API_MAX_BODY_BYTES = 1024

    response = partner.create(order_payload(notes="x" * 2000))

    assert response.status_code == 413
    assert response["Content-Type"] == "application/problem+json"
    assert "1024 bytes" in response.json()["detail"]
    assert InboundEvent.objects.get().outcome == InboundEvent.Outcome.TOO_LARGE


def test_the_default_body_limit_is_256_kib(partner):
    response = partner.create(order_payload(notes="x" * (256 * 1024)))

    assert response.status_code == 413


def test_a_wrong_content_type_answers_415(partner):
    response = partner.create(order_payload(), content_type="text/plain")

    assert response.status_code == 415
    assert response.json()["type"].endswith("/unsupported-media-type")


def test_a_form_body_answers_415(partner):
    response = partner.create(None, raw="a=b", content_type="application/x-www-form-urlencoded")

    assert response.status_code == 415


def test_a_chunked_body_without_content_length_answers_411_not_a_signature_mismatch(partner):
    # Django reads no body without a Content-Length (under gunicorn and runserver alike), so
    # a partner streaming its body (Transfer-Encoding: chunked) had a correct signature
    # refused as "No signature matches".
    response = partner.create(
        order_payload(), headers={"Transfer-Encoding": "chunked"}, CONTENT_LENGTH=""
    )

    assert response.status_code == 411
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["type"].endswith("/length-required")
    assert "Content-Length" in response.json()["detail"]
    event = InboundEvent.objects.get()
    assert (event.outcome, event.signature_verdict) == ("rejected", "not_checked")
    assert Order.objects.count() == 0


def test_a_compressed_body_answers_415_not_a_signature_error(partner):
    import gzip

    body = json.dumps(order_payload()).encode()
    response = partner.post(
        "orders/", None, raw=gzip.compress(body), headers={"Content-Encoding": "gzip"}
    )

    assert response.status_code == 415
    assert response.json()["type"].endswith("/unsupported-media-type")
    assert "Content-Encoding" in response.json()["detail"]
    assert Order.objects.count() == 0


def test_malformed_json_answers_400(partner):
    response = partner.create(None, raw='{"partner_order_id": ')

    assert response.status_code == 400
    problem = response.json()
    assert problem["type"].endswith("/malformed-json")
    assert problem["title"] == "Malformed JSON body"


@pytest.mark.parametrize("raw", ["[]", '"text"', "42", "null", '{"a": NaN}', "[" * 100000])
def test_json_that_is_not_an_object_answers_400(partner, raw):
    response = partner.create(None, raw=raw)

    assert response.status_code == 400
    assert Order.objects.count() == 0


def test_a_number_too_large_for_a_float_answers_400_naming_it(partner):
    # It parsed as infinity, and "notes": 1e999 was stored as the text "inf".
    body = '{"partner_order_id": "P-1", "customer_name": "A", "notes": 1e999}'

    response = partner.create(None, raw=body)

    assert response.status_code == 400
    assert "1e999" in response.json()["detail"]
    assert Order.objects.count() == 0


def test_too_many_requests_answer_429_with_retry_after(partner, settings):
    settings.PARTNER_API_RATE_LIMIT = "2/minute"
    partner.get("X-1")
    partner.get("X-2")

    response = partner.get("X-3")

    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 61
    assert response.json()["type"].endswith("/rate-limited")
    assert InboundEvent.objects.filter(outcome="rate_limited").count() == 1


def test_the_rate_limit_is_per_integration(partner, client, settings):
    from tests.factories import PartnerIntegrationFactory
    from tests.integrations.conftest import PartnerClient

    settings.PARTNER_API_RATE_LIMIT = "1/minute"
    other = PartnerClient(client, PartnerIntegrationFactory())
    partner.get("X-1")

    assert partner.get("X-2").status_code == 429
    assert other.get("X-1").status_code == 404


def test_unsigned_requests_do_not_use_up_the_partners_rate(partner, settings):
    from integrations.secrets import generate_webhook_secret

    settings.PARTNER_API_RATE_LIMIT = "1/minute"
    for _ in range(3):
        partner.get("X-1", secret=generate_webhook_secret())

    assert partner.get("X-1").status_code == 404


def test_unsigned_requests_keep_only_a_little_of_their_body(partner):
    from integrations.secrets import generate_webhook_secret

    big = order_payload(notes="x" * 100_000)

    refused = partner.create(big, secret=generate_webhook_secret(), msg_id="msg_forged")
    # Signed by the partner (then refused for the over-long notes): kept up to the full cap.
    signed_but_invalid = partner.create(big, msg_id="msg_signed")

    assert (refused.status_code, signed_but_invalid.status_code) == (401, 422)
    forged = InboundEvent.objects.get(webhook_id="msg_forged")
    signed = InboundEvent.objects.get(webhook_id="msg_signed")
    assert (len(forged.body), forged.body_truncated) == (2048, True)
    assert (len(signed.body), signed.body_truncated) == (65536, True)


def test_an_unknown_api_url_answers_problem_json_404(client):
    response = client.get("/api/v1/nothing/here/")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"


def test_a_wrong_method_answers_problem_json_405(partner):
    response = partner.client.put(partner.url())

    assert response.status_code == 405
    assert response["Content-Type"] == "application/problem+json"
    assert "POST" in response["Allow"]


def test_an_unsigned_options_request_learns_nothing_about_the_endpoint(partner):
    response = partner.client.options(partner.url())

    assert response.status_code == 405
    assert response["Content-Type"] == "application/problem+json"
    assert response["Allow"] == "POST"
    assert "parses" not in response.json() and "renders" not in response.json()


def test_a_nul_character_in_the_url_answers_404_not_a_server_error(partner):
    response = partner.get("A%00B")

    assert response.status_code == 404
    assert "\x00" not in InboundEvent.objects.get().path


def test_a_nul_character_in_a_field_name_answers_422_and_is_stored_safely(partner):
    response = partner.create(order_payload(**{"bad\x00key": "x"}))

    assert response.status_code == 422
    event = InboundEvent.objects.get()
    assert "\x00" not in str(event.response_body)


def test_a_lone_surrogate_in_a_field_name_answers_422_and_is_stored_safely(partner):
    raw = json.dumps({**order_payload(), "\ud800": 1})  # the escape "\\ud800" on the wire

    response = partner.create(None, raw=raw)

    assert response.status_code == 422
    event = InboundEvent.objects.get()
    assert event.response_status == 422
    assert "\ud800" not in str(event.response_body)


def test_djangos_own_upload_limit_also_answers_413(partner, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100

    response = partner.create(order_payload(notes="x" * 200))

    assert response.status_code == 413


def test_a_rate_limited_request_can_be_retried_with_the_same_webhook_id(partner, settings):
    settings.PARTNER_API_RATE_LIMIT = "1/minute"
    partner.get("X-1")
    assert partner.create(order_payload(), msg_id="msg_retry").status_code == 429
    settings.PARTNER_API_RATE_LIMIT = "0"

    response = partner.create(order_payload(), msg_id="msg_retry")

    assert response.status_code == 201
    assert Order.objects.count() == 1


def test_repeating_an_answered_request_while_rate_limited_answers_429(partner, settings):
    partner.create(order_payload(), msg_id="msg_1")
    settings.PARTNER_API_RATE_LIMIT = "1/minute"
    partner.get("X-1")

    response = partner.create(order_payload(), msg_id="msg_1")

    assert response.status_code == 429
    assert partner.create(order_payload(), msg_id="msg_1").status_code == 429


def _count_allowed(calls: int) -> int:
    from integrations.api.ratelimit import Rate, rate_limit_hit

    rate = Rate(limit=20, period=60)
    return sum(rate_limit_hit(scope="partner:shared", rate=rate) is None for _ in range(calls))


def test_the_rate_limit_holds_across_processes_on_the_default_file_cache(settings, tmp_path):
    """`make run` serves from several gunicorn processes sharing the file cache."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(tmp_path / "cache"),
        }
    }
    with multiprocessing.get_context("fork").Pool(4) as pool:
        allowed = sum(pool.map(_count_allowed, [50] * 4))

    assert allowed == 20
