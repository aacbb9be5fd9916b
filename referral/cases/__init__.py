"""The survivor case file: steps, consent for services, notes, identifiers and their reveal."""
