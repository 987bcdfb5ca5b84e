"""casehub's assembly: settings, database, Slack client, the bolt app and its processes."""
