"""The AI anchor: rundowns, the timeline of what is said and shown, the presenter, video."""
