"""Alerts (issue 16): incidents found in the event store, sent through apprise once per incident per day.

incidents.py reads what deserves an alert (pure over the store's events); send.py hands one message to
one apprise URL (apprise imported only then: it is slow to import); dispatch.py sends each incident to
each URL that has not had it, recording AlertSent or AlertFailed (domain/alerts.py).
"""
