"""The web view's shared pieces: JSON answers, and routing a query to the worker owning its key."""
