"""Progress lines of the long-running commands, one format for all of them."""

from __future__ import annotations


def say(who: str, message: str) -> None:
    """One line `who: message` on stdout, flushed so a supervising process sees it at once."""
    print(f"{who}: {message}", flush=True)
