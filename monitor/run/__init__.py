"""`monitor run`: the embedded stack (broker, worker and a live feed) on one machine."""
