"""Audit events: written in the same transaction as the action they record."""
