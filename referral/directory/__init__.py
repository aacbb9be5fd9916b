"""Networks, member organisations and (later) their services."""
