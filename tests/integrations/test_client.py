"""The partner API client against a real partner API and token endpoint on 127.0.0.1."""

import base64
import logging
import time
from urllib.parse import parse_qs

import pytest
from cryptography.fernet import Fernet
from django.core.cache import cache
from werkzeug import Response

from integrations.client import PartnerAPIError, PartnerClient, client_test_connection
from tests.factories import PartnerIntegrationFactory

pytestmark = pytest.mark.django_db

CLIENT_SECRET = "volvo-client-secret-9f8e7d"


class Partner:
    """A partner API with an OAuth token endpoint that counts what it hands out."""

    def __init__(self, httpserver):
        self.httpserver = httpserver
        self.tokens_issued = 0
        self.token_requests = []
        self.api_requests = []
        self.api_answers: list[Response] = []
        self.expires_in = 3600
        httpserver.expect_request("/oauth/token", method="POST").respond_with_handler(self.token)
        httpserver.expect_request("/v1/orders").respond_with_handler(self.api)
        httpserver.expect_request("/v1").respond_with_handler(self.api)

    def token(self, request):
        self.token_requests.append(request)
        self.tokens_issued += 1
        return Response(
            f'{{"access_token": "tok-{self.tokens_issued}", "token_type": "Bearer", '
            f'"expires_in": {self.expires_in}}}',
            content_type="application/json",
        )

    def api(self, request):
        self.api_requests.append(request)
        if self.api_answers:
            return self.api_answers.pop(0)
        return Response('{"orders": []}', content_type="application/json")

    def url(self, path):
        return self.httpserver.url_for(path)


@pytest.fixture
def partner(httpserver):
    return Partner(httpserver)


def integration_for(partner, authentication_type, credentials, **extra):
    return PartnerIntegrationFactory(
        api_base_url=partner.url("/v1"),
        authentication_type=authentication_type,
        api_credentials=credentials,
        **extra,
    )


def client_credentials(partner, **extra):
    return {
        "client_id": "chargecars_api",
        "client_secret": CLIENT_SECRET,
        "token_endpoint": partner.url("/oauth/token"),
        **extra,
    }


def test_api_key_goes_in_the_default_header(partner):
    integration = integration_for(partner, "api_key", {"api_key": "k-123"}, api_version="1.0")

    response = PartnerClient(integration).get("orders")

    assert response.status_code == 200
    [request] = partner.api_requests
    assert request.headers["X-API-Key"] == "k-123"
    assert request.headers["X-API-Version"] == "1.0"


def test_api_key_goes_in_the_configured_header(partner):
    integration = integration_for(
        partner, "api_key", {"api_key": "k-123", "header_name": "X-Partner-Key"}
    )

    PartnerClient(integration).get("orders")

    assert partner.api_requests[0].headers["X-Partner-Key"] == "k-123"
    assert "X-API-Key" not in partner.api_requests[0].headers


def test_basic_auth_sends_username_and_password(partner):
    integration = integration_for(partner, "basic_auth", {"username": "cc", "password": "pw"})

    PartnerClient(integration).get("orders")

    expected = "Basic " + base64.b64encode(b"cc:pw").decode()
    assert partner.api_requests[0].headers["Authorization"] == expected


def test_a_static_bearer_token_is_sent_as_is(partner):
    integration = integration_for(partner, "bearer_token", {"token": "static-abc"})

    PartnerClient(integration).get("orders")

    assert partner.api_requests[0].headers["Authorization"] == "Bearer static-abc"
    assert partner.tokens_issued == 0


def test_bearer_with_client_credentials_fetches_and_caches_a_token(partner):
    """The document's Volvo example: client_id, client_secret and token_endpoint."""
    integration = integration_for(partner, "bearer_token", client_credentials(partner))

    PartnerClient(integration).get("orders")
    PartnerClient(integration).get("orders")  # a new client (another process): cached token

    assert partner.tokens_issued == 1
    assert [r.headers["Authorization"] for r in partner.api_requests] == ["Bearer tok-1"] * 2
    form = parse_qs(partner.token_requests[0].get_data(as_text=True))
    assert form == {"grant_type": ["client_credentials"]}
    expected = base64.b64encode(f"chargecars_api:{CLIENT_SECRET}".encode()).decode()
    assert partner.token_requests[0].headers["Authorization"] == f"Basic {expected}"


def test_the_cached_token_is_encrypted_and_survives_no_key_rotation(settings, partner):
    integration = integration_for(partner, "bearer_token", client_credentials(partner))
    client = PartnerClient(integration)
    client.get("orders")

    stored = cache.get(client._token_cache_key())
    assert stored and "tok-1" not in stored  # what Redis (or the file cache) holds

    settings.FIELD_ENCRYPTION_KEY = [Fernet.generate_key().decode()]  # old key retired
    PartnerClient(integration).get("orders")

    assert partner.tokens_issued == 2
    assert partner.api_requests[-1].headers["Authorization"] == "Bearer tok-2"


def test_oauth2_sends_the_scope_and_can_post_client_credentials(partner):
    integration = integration_for(
        partner,
        "oauth2",
        client_credentials(partner, scope="orders:read", token_auth_method="client_secret_post"),
    )

    PartnerClient(integration).get("orders")

    form = parse_qs(partner.token_requests[0].get_data(as_text=True))
    assert form["scope"] == ["orders:read"]
    assert form["client_id"] == ["chargecars_api"]
    assert "Authorization" not in partner.token_requests[0].headers


def test_a_token_is_fetched_again_shortly_before_it_expires(settings, partner):
    settings.PARTNER_TOKEN_EXPIRY_MARGIN = 1
    partner.expires_in = 2  # cached for 1 s
    integration = integration_for(partner, "oauth2", client_credentials(partner))

    PartnerClient(integration).get("orders")
    time.sleep(1.2)
    PartnerClient(integration).get("orders")

    assert partner.tokens_issued == 2


def test_a_401_refreshes_the_token_once_and_retries(partner):
    integration = integration_for(partner, "oauth2", client_credentials(partner))
    PartnerClient(integration).get("orders")  # tok-1 cached
    partner.api_answers = [Response("expired", status=401)]

    response = PartnerClient(integration).get("orders")

    assert response.status_code == 200
    assert partner.tokens_issued == 2
    assert partner.api_requests[-1].headers["Authorization"] == "Bearer tok-2"


def test_a_second_401_is_returned_without_more_refreshes(partner):
    integration = integration_for(partner, "oauth2", client_credentials(partner))
    partner.api_answers = [Response("no", status=401), Response("still no", status=401)]

    response = PartnerClient(integration).get("orders")

    assert response.status_code == 401
    assert partner.tokens_issued == 2
    assert len(partner.api_requests) == 2


def test_a_refused_token_request_names_the_status_but_not_the_secret(httpserver):
    httpserver.expect_request("/oauth/token").respond_with_json(
        {"error": "invalid_client", "error_description": "Unknown client"}, status=401
    )
    integration = PartnerIntegrationFactory(
        api_base_url=httpserver.url_for("/v1"),
        authentication_type="oauth2",
        api_credentials={
            "client_id": "chargecars_api",
            "client_secret": CLIENT_SECRET,
            "token_endpoint": httpserver.url_for("/oauth/token"),
        },
    )

    with pytest.raises(PartnerAPIError) as error:
        PartnerClient(integration).get("orders")

    assert "401 (invalid_client: Unknown client)" in str(error.value)
    assert CLIENT_SECRET not in str(error.value)


@pytest.mark.parametrize("key", [" KEY-with-leading-space-1234", "KEY-with-newline-1234\n"])
def test_a_credential_requests_refuses_as_a_header_is_not_quoted_in_the_error(partner, key):
    integration = integration_for(partner, "api_key", {"api_key": key})

    result = client_test_connection(integration=integration)

    assert not result.ok
    assert "[redacted]" in result.message
    assert "KEY-with" not in result.message


def test_idempotent_calls_are_retried_a_bounded_number_of_times(settings, partner):
    settings.PARTNER_API_MAX_RETRIES = 2
    integration = integration_for(partner, "api_key", {"api_key": "k"})
    partner.api_answers = [Response("", status=503)] * 5

    response = PartnerClient(integration).get("orders")

    assert response.status_code == 503
    assert len(partner.api_requests) == 3


def test_posts_are_not_retried(partner):
    integration = integration_for(partner, "api_key", {"api_key": "k"})
    partner.api_answers = [Response("", status=503), Response("ok")]

    response = PartnerClient(integration).post("orders", json={"a": 1})

    assert response.status_code == 503
    assert len(partner.api_requests) == 1


def test_timeouts_are_applied(settings, httpserver):
    settings.PARTNER_API_READ_TIMEOUT = 0.2
    settings.PARTNER_API_MAX_RETRIES = 0
    httpserver.expect_request("/v1/slow").respond_with_handler(
        lambda request: time.sleep(0.6) or Response("late")
    )
    integration = PartnerIntegrationFactory(
        api_base_url=httpserver.url_for("/v1"), api_credentials={"api_key": "k"}
    )

    with pytest.raises(PartnerAPIError, match="timed out"):
        PartnerClient(integration).get("slow")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/v1",
        "https://127.0.0.1/v1",
        "https://localhost/v1",
        "https://10.1.2.3/v1",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/v1",
    ],
)
def test_private_and_plain_http_targets_are_refused_in_production(settings, url):
    settings.PARTNER_ALLOW_PRIVATE_NETWORKS = False
    integration = PartnerIntegrationFactory.build(
        api_base_url=url, api_credentials={"api_key": "k"}
    )

    with pytest.raises(PartnerAPIError, match=r"must use https|private, loopback"):
        PartnerClient(integration).get("orders")


def test_a_private_token_endpoint_is_refused_in_production(settings):
    settings.PARTNER_ALLOW_PRIVATE_NETWORKS = False
    integration = PartnerIntegrationFactory.build(
        api_base_url="https://api.partner.example/v1",
        authentication_type="oauth2",
        api_credentials={
            "client_id": "c",
            "client_secret": "s",
            "token_endpoint": "https://127.0.0.1/oauth/token",
        },
    )

    with pytest.raises(PartnerAPIError, match=r"token_endpoint.*private, loopback"):
        PartnerClient(integration).get("orders")


def test_an_api_url_refused_in_production_is_reported_without_its_credentials(settings):
    settings.PARTNER_ALLOW_PRIVATE_NETWORKS = False
    integration = PartnerIntegrationFactory.build(
        api_base_url="http://apiuser:apipass@api.partner.example/v1?key=k3y-s3cr3t",
        authentication_type="oauth2",
        api_credentials={
            "client_id": "c",
            "client_secret": "s",
            "token_endpoint": "http://tokuser:tokpass@auth.partner.example/token?k=t0k-s3cr3t",
        },
    )

    result = client_test_connection(integration=integration)

    assert not result.ok
    assert "must use https" in result.message
    for secret in ("apipass", "k3y-s3cr3t", "tokpass", "t0k-s3cr3t"):
        assert secret not in result.message
    with pytest.raises(PartnerAPIError) as refused:
        PartnerClient(integration).get("orders")
    assert "http://api.partner.example/v1" in str(refused.value)
    assert "apipass" not in str(refused.value)
    assert "k3y-s3cr3t" not in str(refused.value)


def test_credentials_never_appear_in_logs(partner, caplog):
    integration = integration_for(partner, "oauth2", client_credentials(partner))
    partner.api_answers = [Response("no", status=401)]

    with caplog.at_level(logging.DEBUG):
        PartnerClient(integration).get("orders")
        client_test_connection(integration=integration)

    for secret in (CLIENT_SECRET, "tok-1", "tok-2", "tok-3"):
        assert secret not in caplog.text


def test_a_token_in_the_api_url_query_string_never_appears_in_debug_logs(partner, caplog):
    integration = integration_for(partner, "api_key", {"api_key": "k3y-s3cr3t"})
    integration.api_base_url = partner.url("/v1") + "?access_token=qu3ry-s3cr3t"

    with caplog.at_level(logging.DEBUG):
        response = PartnerClient(integration).get()

    assert response.status_code == 200
    ours = [record for record in caplog.records if not record.name.startswith("werkzeug")]
    assert ours  # urllib3 logged the request at DEBUG
    assert all("qu3ry-s3cr3t" not in record.getMessage() for record in ours)


def test_test_connection_reports_success(partner):
    integration = integration_for(partner, "oauth2", client_credentials(partner))

    result = client_test_connection(integration=integration)

    assert result.ok
    assert "Authenticated with" in result.message
    assert "HTTP 200" in result.message


def test_test_connection_reports_refused_credentials(partner):
    integration = integration_for(partner, "api_key", {"api_key": "wrong"})
    partner.api_answers = [Response("no", status=403)]

    result = client_test_connection(integration=integration)

    assert not result.ok
    assert "refused our api_key credentials (HTTP 403)" in result.message


def test_test_connection_reports_an_unreachable_partner(unused_tcp_port):
    integration = PartnerIntegrationFactory(
        api_base_url=f"http://127.0.0.1:{unused_tcp_port}/v1", api_credentials={"api_key": "k"}
    )

    result = client_test_connection(integration=integration)

    assert not result.ok
    assert "failed" in result.message


def test_a_cookie_set_for_one_integration_is_never_sent_for_another_on_the_same_host(partner):
    partner.api_answers.append(
        Response("{}", content_type="application/json", headers={"Set-Cookie": "sid=dealer-a"})
    )
    dealer_a = integration_for(partner, "api_key", {"api_key": "key-a"})
    dealer_b = integration_for(partner, "api_key", {"api_key": "key-b"})

    PartnerClient(dealer_a).get("orders")
    PartnerClient(dealer_b).get("orders")

    _first_call, second = partner.api_requests
    assert second.headers["X-API-Key"] == "key-b"
    assert "Cookie" not in second.headers
