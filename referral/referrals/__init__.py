"""Referrals between member organisations: the state machine, inbox and outbox, need-to-know sharing."""
