"""Cryptography, passwords, MFA, sessions and HTTP hardening. Knows no domain."""
