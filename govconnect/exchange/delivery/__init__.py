"""Delivery: draining the outbox to the platform, exactly once at the platform.

Lives here: the delivery worker (``worker``).
"""
