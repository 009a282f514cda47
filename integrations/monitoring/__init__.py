"""Monitoring: how each integration is doing, read from the other packages' tables.

Nothing imports this package but the admin and beat.
"""
