import pytest
from django.core.exceptions import ValidationError

from integrations.config import (
    check_outbound_url,
    validate_credentials,
    validate_integration_name,
    validate_status_mapping,
    validate_webhook_events,
)
from integrations.examples import VOLVO_DEALER_INTEGRATION
from integrations.http import address_is_public


def messages(error: ValidationError) -> str:
    return " ".join(error.messages)


def test_the_documents_volvo_status_mapping_is_valid():
    validate_status_mapping(VOLVO_DEALER_INTEGRATION["status_mapping"])


def test_a_mapping_without_the_reverse_direction_is_rejected():
    with pytest.raises(ValidationError) as error:
        validate_status_mapping({"chargecars_to_partner": {"new": "RECEIVED"}})

    assert "'partner_to_chargecars' is missing" in messages(error.value)


def test_a_partner_status_mapped_to_an_unknown_chargecars_status_is_rejected():
    mapping = {
        "chargecars_to_partner": {"new": "RECEIVED"},
        "partner_to_chargecars": {"SHIPPED": "shipped"},
    }

    with pytest.raises(ValidationError) as error:
        validate_status_mapping(mapping)

    assert "'SHIPPED' maps to 'shipped', which is not a ChargeCars status" in messages(error.value)


def test_a_partner_status_mapped_to_several_chargecars_statuses_is_rejected():
    mapping = {
        "chargecars_to_partner": {"new": "RECEIVED"},
        "partner_to_chargecars": {"RECEIVED": ["new", "approved"]},
    }

    with pytest.raises(ValidationError, match="map each partner status to exactly one"):
        validate_status_mapping(mapping)


def test_an_unknown_chargecars_status_on_our_side_is_rejected():
    mapping = {"chargecars_to_partner": {"shipped": "X"}, "partner_to_chargecars": {}}

    with pytest.raises(ValidationError, match="'shipped' is not a ChargeCars status"):
        validate_status_mapping(mapping)


def test_webhook_events_must_come_from_the_catalog():
    validate_webhook_events(["order_created", "installation_completed"])

    with pytest.raises(ValidationError, match=r"Unknown webhook event.*order_shipped"):
        validate_webhook_events(["order_created", "order_shipped"])


@pytest.mark.parametrize(
    ("authentication_type", "credentials", "missing"),
    [
        ("api_key", {"header_name": "X-Key"}, "api_key"),
        ("basic_auth", {"username": "cc"}, "password"),
        (
            "bearer_token",
            {"client_id": "cc", "token_endpoint": "https://a.example/t"},
            "client_secret",
        ),
        ("oauth2", {"client_id": "cc", "client_secret": "s"}, "token_endpoint"),
    ],
)
def test_missing_credentials_are_named_per_authentication_type(
    authentication_type, credentials, missing
):
    with pytest.raises(ValidationError) as error:
        validate_credentials(authentication_type, credentials)

    assert f"missing {missing}" in messages(error.value)


def test_the_documents_volvo_bearer_credentials_are_valid():
    validate_credentials("bearer_token", VOLVO_DEALER_INTEGRATION["api_credentials"])
    validate_credentials("bearer_token", {"token": "static-token"})


@pytest.mark.parametrize("name", ["volvo_dealer_api", "eneco-api", "a1"])
def test_integration_names_are_url_safe_slugs(name):
    validate_integration_name(name)


@pytest.mark.parametrize("name", ["Volvo API", "volvo/api", "_volvo", "", "x" * 65])
def test_integration_names_that_are_not_url_safe_are_rejected(name):
    with pytest.raises(ValidationError, match="lowercase letters"):
        validate_integration_name(name)


def test_outbound_urls_to_private_networks_and_plain_http_are_refused_in_production(settings):
    settings.PARTNER_ALLOW_PRIVATE_NETWORKS = False

    assert "private, loopback or link-local" in check_outbound_url("https://127.0.0.1/hook")
    assert "private, loopback or link-local" in check_outbound_url("https://169.254.169.254/x")
    assert "private, loopback or link-local" in check_outbound_url("https://10.1.2.3/x")
    assert "must use https" in check_outbound_url("http://partner.example/hook")
    assert "not a valid" in check_outbound_url("ftp://partner.example/hook")


@pytest.mark.parametrize(
    "host",
    [
        "[::ffff:169.254.169.254]",  # IPv4-mapped
        "[64:ff9b::a9fe:a9fe]",  # NAT64 well-known prefix: 169.254.169.254 via the gateway
        "[64:ff9b::a00:1]",  # ... 10.0.0.1
        "[64:ff9b:1::a00:1]",  # NAT64 local-use prefix
        "[2002:7f00:1::]",  # 6to4 of 127.0.0.1
        "[::127.0.0.1]",  # IPv4-compatible
        "[::ffff:0:a9fe:a9fe]",  # IPv4-translated
    ],
)
def test_ipv6_addresses_standing_for_private_ipv4_ones_are_refused_in_production(settings, host):
    settings.PARTNER_ALLOW_PRIVATE_NETWORKS = False

    assert "private, loopback or link-local" in check_outbound_url(f"https://{host}/hook")


@pytest.mark.parametrize(
    "address", ["93.184.216.34", "2606:4700::1111", "64:ff9b::5db8:d822", "2002:5db8:d822::1"]
)
def test_public_addresses_stay_allowed_also_through_nat64_or_6to4(address):
    assert address_is_public(address)


def test_outbound_urls_to_localhost_are_allowed_when_the_setting_allows_it(settings):
    settings.PARTNER_ALLOW_PRIVATE_NETWORKS = True

    assert check_outbound_url("http://127.0.0.1:8000/hook") is None


def test_a_mapping_whose_two_directions_disagree_is_rejected():
    mapping = {
        "chargecars_to_partner": {"new": "RECEIVED"},
        "partner_to_chargecars": {"RECEIVED": "approved"},
    }

    with pytest.raises(ValidationError) as error:
        validate_status_mapping(mapping)

    assert "'new' is sent as 'RECEIVED', but 'RECEIVED' is read back as 'approved'" in messages(
        error.value
    )
