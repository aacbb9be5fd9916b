"""Celery: the application and its thin tasks, which call the services in `referral/`."""
