"""Stream processing: the Faust app, its agents, tables and web view."""
