"""The reviewer console: a web application for the people who decide claims.

Server-rendered pages (Jinja2, autoescaped) over the same contract every client uses:
the list query for inboxes, the `state` query for a claim, and each action's update.
Everything it serves is local: it works offline.
"""
