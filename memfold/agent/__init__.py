"""The agent: lifecycle (create, load, change) and the step loop."""
