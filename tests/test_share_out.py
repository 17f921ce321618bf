"""A new transcript's words given out to the live captions by time (`live/share_out.py`),
with scripted pieces and times: model-free."""

from __future__ import annotations

from tingshuo.live.share_out import Piece, share_out, units


def no_times(piece: Piece, parts: list[str]) -> None:
    return None


def test_units_keep_punctuation_with_the_word_before_and_join_back():
    text = "“我们2017年，做了 Hello, world!”好。"
    parts = units(text)
    assert "".join(parts) == text
    assert parts == ["“我", "们", "2017", "年，", "做", "了 ", "Hello, ", "world!”", "好。"]
    assert units("Hello there, my friend.") == ["Hello ", "there, ", "my ", "friend."]
    assert units("") == [] and units("……") == ["……"]


def test_a_piece_within_one_caption_goes_to_it_whole():
    spans = [(0.0, 2.1), (4.9, 7.1), (7.5, 8.0)]
    pieces = [Piece(0.0, 2.0, "你好。"), Piece(5.0, 7.0, "再见。"), Piece(7.4, 8.2, "好")]
    assert share_out(pieces, spans, no_times) == ["你好。", "再见。", "好"]


def test_words_heard_in_no_caption_go_to_the_nearest():
    spans = [(0.0, 2.0), (6.0, 8.0)]
    pieces = [Piece(2.2, 3.0, "嗯，"), Piece(4.5, 5.5, "那么")]
    assert share_out(pieces, spans, no_times) == ["嗯，", "那么"]
    assert share_out([], spans, no_times) == ["", ""]
    assert share_out([Piece(0, 1, "你好")], [], no_times) == []


def test_a_piece_over_two_captions_is_cut_where_its_words_cross_the_gap():
    # the live room cut "以发生新国立赛。场建设图纸" after 赛 (a 0.06-s gap); the file read it
    # as one sentence with other words: each caption takes the words said in its own time
    spans = [(10.0, 12.0), (12.06, 14.0)]
    piece = Piece(10.0, 14.0, "以发生新国立赛场。建设图纸。")
    times = {"以": 10.1, "发": 10.4, "生": 10.7, "新": 11.0, "国": 11.3, "立": 11.6, "赛": 11.9}
    times |= {"场。": 12.2, "建": 12.6, "设": 12.9, "图": 13.3, "纸。": 13.7}

    def timed(p: Piece, parts: list[str]) -> list[float]:
        assert p is piece and "".join(parts) == piece.text
        return [times[u] for u in parts]

    assert share_out([piece], spans, timed) == ["以发生新国立赛", "场。建设图纸。"]
    # without times, spread evenly over the piece
    assert share_out([piece], spans, no_times) == ["以发生新国立", "赛场。建设图纸。"]


def test_a_caption_never_takes_words_said_before_an_earlier_one():
    # a misaligned time that jumps back does not send a word to an earlier caption
    spans = [(0.0, 1.0), (1.5, 3.0)]
    piece = Piece(0.0, 3.0, "one two three four")
    got = share_out([piece], spans, lambda p, parts: [0.2, 2.0, 0.5, 2.5])
    assert got == ["one", "two three four"]


def test_english_is_cut_between_words_only():
    spans = [(0.0, 1.2), (1.3, 3.0)]
    piece = Piece(0.0, 3.0, "Good morning, everyone here.")
    got = share_out([piece], spans, lambda p, parts: [0.3, 0.9, 1.8, 2.6])
    assert got == ["Good morning,", "everyone here."]
