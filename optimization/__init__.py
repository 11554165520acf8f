"""Cut LLM bills with prompt caching and Message Batches."""
