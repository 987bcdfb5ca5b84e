"""Block Kit, built by pure functions: data in, dicts out, Slack's limits respected."""
