"""The sandbox partner (`manage.py run_partner_sandbox`): a realistic partner on 127.0.0.1
with an OAuth2 token endpoint, an order feed in the default contract, a webhook receiver
that verifies our signatures, and signed calls to our partner API now and then."""
