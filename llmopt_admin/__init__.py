"""The llmopt admin: a Django site for operators of the optimization package."""
