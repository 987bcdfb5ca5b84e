"""The record desk: casehub's pages in the browser for what must never be in Slack."""
