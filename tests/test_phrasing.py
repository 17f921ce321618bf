"""Cutting a translation that is still being written into pieces to speak (model-free),
driven by the drafts a translator sends."""

from __future__ import annotations

from tingshuo.live.phrasing import cut, remainder, same_start, tokens


def pieces(drafts: list[str], final: str, lang: str = "en") -> list[str]:
    """What a listener hears of one line: the pieces cut from its drafts, then the rest."""
    said: list[str] = []
    out = []
    for draft in drafts:
        toks = tokens(draft, lang)
        if not same_start(toks, said):
            break
        n = cut(draft, len(said), lang)
        if n > len(said):
            out.append(
                " ".join(toks[len(said) : n]) if lang == "en" else "".join(toks[len(said) : n])
            )
            said = toks[:n]
    rest = remainder(final, said, lang)
    return [*out, rest] if rest else out


def test_a_clause_is_spoken_once_its_mark_is_followed_by_more():
    drafts = [
        "Ladies and",
        "Ladies and gentlemen,",  # the mark may still belong to a number ("3,000"): wait
        "Ladies and gentlemen, good",
        "Ladies and gentlemen, good morning to all. The meeting",
    ]
    final = "Ladies and gentlemen, good morning to all. The meeting starts now."
    assert pieces(drafts, final) == [
        "Ladies and gentlemen,",
        "good morning to all.",
        "The meeting starts now.",
    ]
    # a clause too short to be a piece of its own waits for the next
    assert pieces(["Thank you, everyone. We"], "Thank you, everyone. We begin.") == [
        "Thank you, everyone.",
        "We begin.",
    ]


def test_short_clauses_wait_and_long_ones_are_cut_before_a_phrase():
    # "Yes," alone is too short to be a piece of its own
    assert cut("Yes, we did it", 0, "en") == 0
    long = "The city's economic development has grown rapidly in the first half of the year"
    n = cut(long, 0, "en")
    assert tokens(long, "en")[n] in {"in", "of"} and n >= 6
    # nothing complete to cut yet: the last word may still grow
    assert cut("The population of", 0, "en") == 0


def test_the_complete_translation_gives_what_the_drafts_did_not():
    said = tokens("Ladies and gentlemen,", "en")
    assert remainder("Ladies and gentlemen, welcome.", said, "en") == "welcome."
    # the final text changed a word of the drafts (a number put right): not said twice
    said = tokens("Sales reached 3 thousand yuan,", "en")
    rest = remainder("Sales reached 3,000 yuan, up 5 percent.", said, "en")
    assert rest == "up 5 percent."
    assert remainder("Thank you.", [], "en") == "Thank you."


def test_chinese_is_cut_only_at_its_clause_marks():
    drafts = ["各位来宾", "各位来宾，大家", "各位来宾，大家好。会议"]
    assert pieces(drafts, "各位来宾，大家好。会议现在开始。", "zh") == [
        "各位来宾，",
        "大家好。",
        "会议现在开始。",
    ]


def test_a_retranslation_that_strays_from_what_was_said_waits_for_the_end():
    drafts = ["The weather is fine, and", "Today the weather"]  # the model started again
    assert pieces(drafts, "Today the weather is fine, and we go out.") == [
        "The weather is fine,",
        "and we go out.",
    ]
