"""The HTTP adapter: an OpenAI-compatible API plus LiveMind's own council routes (`livemind serve`)."""
