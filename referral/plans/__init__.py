"""Activity and training plans of the networks."""
