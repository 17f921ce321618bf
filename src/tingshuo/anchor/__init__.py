"""The AI anchor: rundowns, the timeline of what is said and shown, the presenter, video."""

from pathlib import Path

STATIC = Path(__file__).parent / "static"  # the stage page and its script
