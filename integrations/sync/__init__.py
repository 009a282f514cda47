"""Scheduled sync: we pull order changes from partners' APIs (see ``run`` for one sync)."""
