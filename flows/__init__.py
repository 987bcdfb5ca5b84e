"""Multi-step work that joins the services' rules to Slack's Web API.

Each step's progress is committed before the next Slack call, so a failure
leaves a case that a retry completes, never a half-made one that is forgotten.
"""
