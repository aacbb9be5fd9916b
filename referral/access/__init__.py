"""The one access policy: who may see and do what. Deny by default."""
