"""Translation of captions, texts and subtitle files with a local GGUF chat model.

The live pipeline uses `TranslationWorker` (never blocks the caller); the command line and
batch jobs call a `Translator` from `load_translator` directly.
"""

from .base import Translator, Turn, detect_lang
from .glossary import Glossary
from .llm import LlmTranslator, load_translator
from .worker import Background, BackgroundJob, Job, QueueFull, TranslationWorker

__all__ = [
    "Background",
    "BackgroundJob",
    "Glossary",
    "Job",
    "LlmTranslator",
    "QueueFull",
    "TranslationWorker",
    "Translator",
    "Turn",
    "detect_lang",
    "load_translator",
]
