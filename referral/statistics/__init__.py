"""Network statistics that identify no one: indicators, disclosure control, releases, charts' data."""
