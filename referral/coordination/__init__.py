"""Network coordination: representatives, meetings, agendas, attendance, minutes and action points."""
