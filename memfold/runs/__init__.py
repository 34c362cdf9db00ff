"""The durable run queue: requests that run in the background, survive a restart, and run once."""
