"""The context engine: compiling each LLM request from the agent's state."""
