import re

import pytest

pytestmark = pytest.mark.django_db


def test_the_openapi_schema_describes_endpoints_signature_headers_and_errors(client):
    response = client.get("/api/schema/", {"format": "json"})

    assert response.status_code == 200
    schema = response.json()
    paths = schema["paths"]
    create = paths["/api/v1/partners/{integration_name}/orders/"]["post"]
    status = paths["/api/v1/partners/{integration_name}/orders/{partner_order_id}/status/"]["post"]
    read = paths["/api/v1/partners/{integration_name}/orders/{partner_order_id}/"]["get"]
    assert create["operationId"] == "createOrderFromPartner"
    assert status["operationId"] == "processPartnerStatusUpdate"
    headers = {p["name"] for p in create["parameters"] if p["in"] == "header"}
    assert headers == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert {"400", "401", "403", "404", "413", "415", "422", "429"} <= set(create["responses"])
    assert {"409", "422"} <= set(status["responses"])
    assert "application/problem+json" in create["responses"]["401"]["content"]
    assert "200" in read["responses"]


def test_the_schema_says_request_bodies_refuse_unknown_fields(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    components = schema["components"]["schemas"]
    create = schema["paths"]["/api/v1/partners/{integration_name}/orders/"]["post"]

    body = create["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/OrderCreateRequest"}
    assert components["OrderCreateRequest"]["additionalProperties"] is False
    assert components["StatusUpdateRequest"]["additionalProperties"] is False
    assert "partner_order_id" in components["OrderCreateRequest"]["required"]


def test_the_docs_page_uses_only_local_assets(client):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets
    assert not [url for url in assets if url.startswith(("http://", "https://", "//"))]
    for url in assets:
        if url.endswith((".js", ".css")):
            assert client.get(url).status_code == 200, url
