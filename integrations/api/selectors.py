"""The partner API's reads: the integration a request names."""

import time

from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from integrations.models import PartnerIntegration, RetiredWebhookSecret

# Speed-up: integration_name -> (expires at, integration), per process. Saves a query per
# request. Saving an integration or retiring a secret clears it in this process; other
# processes see the change within PARTNER_API_INTEGRATION_CACHE_SECONDS, and a signature
# that does not match the cached secrets is always checked again against the database.
_integration_cache: dict[str, tuple[float, PartnerIntegration]] = {}


def integration_for_api(name: str, *, fresh: bool = False) -> PartnerIntegration | None:
    """The integration called ``name``, from the cache above unless ``fresh``."""
    ttl = settings.PARTNER_API_INTEGRATION_CACHE_SECONDS
    now = time.monotonic()
    if ttl and not fresh and (hit := _integration_cache.get(name)) and hit[0] > now:
        return hit[1]
    # The partner's API credentials are not needed to answer it: not decrypted here.
    integration = (
        PartnerIntegration.objects.defer("api_credentials").filter(integration_name=name).first()
    )
    if ttl and integration is not None:
        _integration_cache[name] = (now + ttl, integration)
    else:
        _integration_cache.pop(name, None)
    return integration


@receiver([post_save, post_delete], sender=PartnerIntegration)
@receiver(post_save, sender=RetiredWebhookSecret)
def integration_cache_clear(**kwargs) -> None:
    _integration_cache.clear()
