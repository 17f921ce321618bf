"""The voices and the wrong tones the tone models are fitted on, made of real recordings by
Praat: what was asked for is what the pitch tracker then hears."""

from __future__ import annotations

import numpy as np

from tingshuo.audio.decode import load_audio
from tingshuo.learn.pitch import track_pitch
from tingshuo.learn.tones import contour

from .helpers import AISHELL


def test_a_changed_voice_keeps_no_tail_at_its_old_pitch(settings):
    # tingshuo's voice lowered by 0.8 (about 4 semitones): with Praat's default range, the
    # quiet end of each of these syllables kept its old pitch, a jump up at the end that the
    # tracker heard as a final rise (none of the 8 ended where it should)
    from tingshuo.learn.train_drill import CHANGES, PAD
    from tingshuo.learn.voice import read_pinyin
    from tingshuo.tts import load_voice
    from tingshuo.tts.audio_out import resample

    voice = load_voice("zh", settings)
    change = CHANGES["tts"]["woman-low"]
    clean = 0
    for pinyin in ("a1", "ba1", "yi1", "ma1", "tang1", "fei1", "shu1", "ge1"):
        speech = read_pinyin(voice, [pinyin])
        audio = resample(speech.audio, speech.sample_rate, 16000)
        before = track_pitch(np.concatenate([PAD, audio, PAD]))
        after = track_pitch(np.concatenate([PAD, change(audio), PAD]))
        was = np.flatnonzero(~np.isnan(before.semitones))
        now = np.flatnonzero(~np.isnan(after.semitones))
        # each voiced frame against the original's nearest voiced frame, lowered by 0.8
        nearest = was[np.argmin(np.abs(was[None, :] - now[:, None]), axis=1)]
        moved = after.semitones[now] - before.semitones[nearest]
        moved += 12 * np.log2(after.median_hz / before.median_hz) - 12 * np.log2(0.8)
        clean += bool(np.all(np.abs(moved[-3:]) < 1.5))
    assert clean >= 5, clean


def test_a_syllable_given_another_contour_is_heard_with_it_and_the_rest_unchanged():
    from tingshuo.learn.train_tones import repitched

    audio = load_audio(AISHELL / "audio" / "BAC009S0150W0121.flac")
    before = track_pitch(audio)
    voiced = before.times[~np.isnan(before.semitones)]
    span = (float(voiced[len(voiced) // 2]), float(voiced[len(voiced) // 2]) + 0.2)
    rise = np.linspace(-2.0, 4.0, 12)  # semitones against the sentence's median
    after = track_pitch(repitched(audio, before.median_hz, [(span, rise)]))
    c = contour(after, *span)
    assert c is not None
    heard = c.points + 12 * np.log2(after.median_hz / before.median_hz)
    assert heard[-1] - heard[0] > 3.5 and abs(heard[2] - 1.0) < 1.5, np.round(heard, 1)
    # away from the span the pitch is the recording's own
    far = (before.times < span[0] - 0.3) | (before.times > span[1] + 0.3)
    both = far & ~np.isnan(before.semitones) & ~np.isnan(after.semitones)
    moved = (after.semitones - before.semitones)[both] + 12 * np.log2(
        after.median_hz / before.median_hz
    )
    assert both.sum() > 50 and np.median(np.abs(moved)) < 0.3


def test_a_deep_voices_creaky_syllables_are_heard_below_75_hz(settings):
    # gcin's voice made deeper (x0.8): in these low syllables Praat hears fewer than 4 voiced
    # frames down to 75 Hz, nothing to judge a tone by; listened to again down to 50 Hz
    # (`pitch.HEARD_NOTHING`), each has a contour and most of their tones are judged right
    import parselmouth

    from tingshuo.learn import drill
    from tingshuo.learn.assess_drill import analyse_drill, drill_probabilities
    from tingshuo.learn.pitch import _f0
    from tingshuo.learn.train_drill import CHANGES, PAD

    from .helpers import DATA

    change = CHANGES["gcin"]["man-deep"]
    right = 0
    syllables = ("bao3", "huan3", "xu4", "shuai4", "gui3", "dang3", "chuang4", "zai3")
    for pinyin in syllables:
        clip = load_audio(DATA / "gcin-syllables-male" / "audio" / f"{pinyin}.ogg")
        audio = np.concatenate([PAD, change(clip), PAD])
        sound = parselmouth.Sound(audio.astype(np.float64), sampling_frequency=16000)
        assert np.count_nonzero(_f0(sound, 75.0, 600.0)) < 4, pinyin
        probs = drill_probabilities(analyse_drill(audio, 1, settings), register_hz=132 * 0.8)[0]
        assert probs is not None, pinyin
        right += drill.tone_passes(probs, int(pinyin[-1]))
    assert right >= 6, right
