"""Domain rules: Slack-free functions over a SQLAlchemy Session.

Services never commit; the caller's unit of work (`Database.session()`) does.
"""
