class ReadOnlyAdminMixin:
    """For audit trails and summaries: rows are viewed in the admin, never added, edited or
    deleted there (they are written by service functions)."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
