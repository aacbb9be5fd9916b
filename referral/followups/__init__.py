"""Follow-ups, response clocks, reminders and the in-app notifications they produce."""
