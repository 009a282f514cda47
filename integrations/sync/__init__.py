"""Scheduled sync: pulling order changes from partners' APIs (not built yet)."""
