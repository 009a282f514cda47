import uuid

from django.db import models


class OrganizationType(models.TextChoices):
    PARTNER_DEALER = "partner_dealer", "Partner: car dealer"
    PARTNER_ENERGY = "partner_energy", "Partner: energy company"
    PARTNER_INSTALLER = "partner_installer", "Partner: installer"
    PARTNER_OTHER = "partner_other", "Partner: other"
    CUSTOMER = "customer", "Customer"
    INTERNAL = "internal", "Internal"


class OrganizationQuerySet(models.QuerySet):
    def partners(self):
        return self.filter(organization_type__startswith="partner_")


class Organization(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    name = models.CharField(max_length=200, unique=True)
    organization_type = models.CharField(
        max_length=32, choices=OrganizationType.choices, db_index=True
    )
    contact_name = models.CharField(max_length=200, blank=True)
    contact_email = models.EmailField(blank=True, help_text="Where ops reach the partner's team.")
    contact_phone = models.CharField(max_length=50, blank=True)
    is_active = models.BooleanField(default=True)
    notes = models.TextField(blank=True)

    objects = OrganizationQuerySet.as_manager()

    class Meta:
        db_table = "organizations"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_partner(self) -> bool:
        return self.organization_type.startswith("partner_")
