"""Users, roles, sign-in with MFA, sessions and API tokens."""
