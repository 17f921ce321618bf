"""tingshuo (听说): offline live transcription, translation and AI anchor."""

__version__ = "0.1.0"
