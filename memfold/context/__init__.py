"""The context engine: token accounting (`tokens`), compiling each LLM request from the agent's
state (`compiler`), choosing what leaves the window (`eviction`) and the recursive summary
(`summarizer`). `memfold.agent.window` puts them together for the step loop."""
