"""The rundown: an event segment by segment, as YAML or as Markdown with front matter.

YAML::

    title: 开幕式 Opening ceremony
    languages: [zh, en]          # subtitle languages, in the order they are shown
    segments:
      - say:                     # the anchor speaks, each language in turn
          zh: 各位来宾，大家好！
          en: Good morning, distinguished guests!
      - pause: 1.5               # seconds of silence
      - cue: play video          # a cue card for the crew; shown for `seconds`
        seconds: 3
      - speaker: 李明教授         # a human speaker's slot: the anchor's words are `say`
        title: 主旨演讲 Keynote
        seconds: 4
        say: {zh: 下面有请李明教授。, en: Please welcome Professor Li Ming.}

Markdown: the same front matter between `---` lines, then one segment per block::

    ## Welcome                   (a heading names the next segment)
    zh: 各位来宾，大家好！
    en: Good morning, distinguished guests!

    [pause 1.5]
    [cue play video 3]
    [speaker 李明教授 | 主旨演讲 Keynote | 4]

Errors name the file, the line and what is wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import TingshuoError

KINDS = ("say", "pause", "cue", "speaker")
MAX_SECONDS = 600.0
# a long event's rundown is tens of KB; the limit is checked before any parsing
MAX_CHARS = 200_000


class RundownError(TingshuoError):
    """A rundown that cannot be read: says the file, line and why."""


@dataclass
class Segment:
    kind: str  # "say", "pause", "cue" or "speaker"
    line: int  # where it starts in the file, for messages
    id: str = ""
    lines: dict[str, str] = field(default_factory=dict)  # language → what the anchor says
    speak: list[str] = field(default_factory=list)  # languages spoken aloud, in order
    seconds: float = 0.0  # pause / cue / speaker slot length
    cue: str = ""
    speaker: str = ""
    title: str = ""

    def summary(self) -> str:
        if self.kind == "pause":
            return f"{self.seconds:g} s"
        if self.kind == "cue":
            return f"{self.cue} ({self.seconds:g} s)"
        said = " / ".join(self.lines.values())
        if self.kind == "speaker":
            return f"{self.speaker} {self.title} ({self.seconds:g} s) {said}".strip()
        return said


@dataclass
class Rundown:
    title: str
    languages: list[str]
    segments: list[Segment]
    source: str = ""
    anchor: str = "AI 主播"


def load_rundown(path: Path) -> Rundown:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as e:
        raise RundownError(f"{path}: no such rundown file") from e
    except (OSError, UnicodeDecodeError) as e:
        raise RundownError(f"{path}: cannot read the rundown ({e})") from e
    if path.suffix.lower() in (".md", ".markdown"):
        return parse_markdown(text, str(path))
    if path.suffix.lower() in (".yaml", ".yml"):
        return parse_yaml(text, str(path))
    raise RundownError(f"{path}: a rundown is .yaml/.yml or .md with front matter")


# -- YAML -----------------------------------------------------------------------------------


def _check_size(text: str, name: str) -> None:
    if len(text) > MAX_CHARS:
        raise RundownError(
            f"{name}: a rundown of {len(text)} characters is over the limit of {MAX_CHARS}: "
            "split the event into several rundowns"
        )


def _no_alias_loader():
    """SafeLoader that refuses anchors and aliases (&name, *name): a few hundred bytes of
    nested aliases ("billion laughs") expand to gigabytes once the values are read."""
    import yaml

    class NoAliasLoader(yaml.SafeLoader):
        def compose_node(self, parent, index):
            event = self.peek_event()
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    "anchors and aliases (&name, *name) are not allowed in a rundown",
                    event.start_mark,
                )
            return super().compose_node(parent, index)

    return NoAliasLoader


def _compose(text: str, name: str, first_line: int = 1):
    import yaml

    _check_size(text, name)
    try:
        return yaml.compose(text, Loader=_no_alias_loader())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + first_line}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise RundownError(f"{name}{where}: not valid YAML ({problem})") from e
    except RecursionError as e:  # thousands of nested [ or {
        raise RundownError(f"{name}: not valid YAML (nested too deeply)") from e


def _value(node, name: str = "rundown", first_line: int = 1):
    import yaml

    try:
        return yaml.SafeLoader(yaml.serialize(node)).get_single_data()
    except (ValueError, RecursionError) as e:  # an integer of 5,000 digits, say
        line = node.start_mark.line + first_line
        raise RundownError(f"{name} line {line}: a value cannot be read ({str(e)[:60]})") from e


def _mapping(node, name: str, line: int, what: str) -> dict[str, tuple]:
    """Keys → (value node, line) of a YAML mapping node."""
    import yaml

    if not isinstance(node, yaml.MappingNode):
        raise RundownError(f"{name} line {line}: {what} must be a mapping of keys to values")
    return {k.value: (v, v.start_mark.line + line - node.start_mark.line) for k, v in node.value}


def parse_yaml(text: str, name: str = "rundown", first_line: int = 1) -> Rundown:
    root = _compose(text, name, first_line)
    if root is None:
        raise RundownError(f"{name}: the rundown is empty")
    top = _mapping(root, name, first_line, "the rundown")
    meta = {k: _value(v, name, first_line) for k, (v, _) in top.items() if k != "segments"}
    if "segments" not in top:
        raise RundownError(f"{name}: no `segments:` list (see examples/opening-ceremony.yaml)")
    seq, seq_line = top["segments"]
    import yaml

    if not isinstance(seq, yaml.SequenceNode) or not seq.value:
        raise RundownError(f"{name} line {seq_line}: `segments` must be a non-empty list")
    rundown = _rundown(meta, name)
    for node in seq.value:
        line = node.start_mark.line + first_line
        keys = _mapping(node, name, line, "a segment")
        fields = {k: _value(v, name, first_line) for k, (v, _) in keys.items()}
        rundown.segments.append(_segment(fields, name, line, rundown.languages))
    return rundown


def _rundown(meta: dict, name: str) -> Rundown:
    from ..tts import check_lang

    languages = meta.get("languages", ["zh", "en"])
    if isinstance(languages, str):
        languages = [languages]
    if not isinstance(languages, list) or not languages:
        raise RundownError(f"{name}: `languages` must be a list such as [zh, en]")
    try:
        languages = [check_lang(str(code)) for code in languages]
    except TingshuoError as e:
        raise RundownError(f"{name}: `languages`: {e}") from e
    return Rundown(
        title=str(meta.get("title", "")).strip() or Path(name).stem,
        languages=languages,
        segments=[],
        source=name,
        anchor=str(meta.get("anchor", "AI 主播")),
    )


def _seconds(value, name: str, line: int, key: str) -> float:
    try:
        seconds = float(str(value).rstrip("s").strip())
    except ValueError as e:
        raise RundownError(f"{name} line {line}: `{key}` must be seconds, got {value!r}") from e
    if not 0 <= seconds <= MAX_SECONDS:
        raise RundownError(
            f"{name} line {line}: `{key}` of {seconds:g} s is outside 0–{MAX_SECONDS:g} s"
        )
    return seconds


def _segment(fields: dict, name: str, line: int, languages: list[str]) -> Segment:
    from ..tts import check_lang

    known = {"say", "pause", "cue", "speaker", "title", "seconds", "speak", "id"}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise RundownError(
            f"{name} line {line}: unknown key {unknown[0]!r} (a segment has: say, pause, cue, "
            "speaker, title, seconds, speak, id)"
        )
    kinds = [k for k in ("pause", "cue", "speaker") if k in fields]
    if len(kinds) > 1:
        raise RundownError(f"{name} line {line}: a segment is one of pause, cue or speaker")
    kind = kinds[0] if kinds else "say"
    seg = Segment(kind=kind, line=line, id=str(fields.get("id", "")))
    say = fields.get("say")
    if say is not None:
        if isinstance(say, str):
            say = {languages[0]: say}
        if not isinstance(say, dict):
            raise RundownError(f"{name} line {line}: `say` is a text or a mapping zh: …, en: …")
        for code, words in say.items():
            try:
                code = check_lang(str(code))
            except TingshuoError as e:
                raise RundownError(f"{name} line {line}: `say`: {e}") from e
            words = "" if words is None else str(words).strip()
            if not words:
                raise RundownError(f"{name} line {line}: the {code} line is empty")
            seg.lines[code] = words
    if kind == "say" and not seg.lines:
        raise RundownError(
            f"{name} line {line}: the segment has nothing to do: give `say`, `pause`, `cue` "
            "or `speaker`"
        )
    if kind == "pause":
        seg.seconds = _seconds(fields["pause"], name, line, "pause")
    else:
        seg.seconds = _seconds(
            fields.get("seconds", 3 if kind != "say" else 0), name, line, "seconds"
        )
    seg.cue = str(fields.get("cue", "") or "")
    seg.speaker = str(fields.get("speaker", "") or "")
    seg.title = str(fields.get("title", "") or "")
    speak = fields.get("speak", list(seg.lines))
    if isinstance(speak, str):
        speak = [speak]
    missing = [code for code in speak if code not in seg.lines]
    if missing:
        raise RundownError(
            f"{name} line {line}: `speak` names {missing[0]} but `say` has no {missing[0]} line"
        )
    seg.speak = list(speak)
    return seg


# -- Markdown -------------------------------------------------------------------------------

_FRONT = re.compile(r"\A---[ \t]*\n(.*?\n)---[ \t]*\n", re.S)
_LINE = re.compile(r"^([a-z]{2,3}(?:-[A-Za-z]+)?)\s*[:：]\s*(.*)$")
_BRACKET = re.compile(r"^\[(pause|cue|speaker)\b\s*(.*)\]$", re.I)


def parse_markdown(text: str, name: str = "rundown.md") -> Rundown:
    _check_size(text, name)
    match = _FRONT.match(text)
    if not match:
        raise RundownError(
            f"{name} line 1: a Markdown rundown starts with front matter between '---' lines"
        )
    front = match.group(1)
    meta = _value(_compose(front, name, 2), name, 2) if front.strip() else {}
    if not isinstance(meta, dict):
        raise RundownError(f"{name} line 2: the front matter must be keys and values")
    rundown = _rundown(meta, name)
    offset = match.group(0).count("\n")
    block: dict[str, str] = {}
    block_line = 0
    heading = ""

    def flush() -> None:
        nonlocal block, heading
        if block:
            fields = {"say": dict(block), "id": heading}
            rundown.segments.append(_segment(fields, name, block_line, rundown.languages))
            heading = ""
        block = {}

    for number, raw in enumerate(text[match.end() :].splitlines(), offset + 1):
        line = raw.strip()
        if not line or line.startswith("<!--"):
            flush()
            continue
        if line.startswith("#"):
            flush()
            heading = line.lstrip("#").strip()
            continue
        bracket = _BRACKET.match(line)
        if bracket:
            flush()
            rundown.segments.append(_bracket(bracket, name, number, heading, rundown.languages))
            heading = ""
            continue
        said = _LINE.match(line)
        if said:
            if not block:
                block_line = number
            code = said.group(1)
            if code in block:
                raise RundownError(
                    f"{name} line {number}: a second {code} line in one segment; "
                    "leave a blank line between segments"
                )
            block[code] = said.group(2)
            continue
        raise RundownError(
            f"{name} line {number}: cannot read {line[:40]!r}: write `zh: …`/`en: …`, "
            "[pause 2], [cue … 3] or [speaker Name | Title | 5]"
        )
    flush()
    if not rundown.segments:
        raise RundownError(f"{name}: the rundown has no segments")
    return rundown


def _bracket(match: re.Match, name: str, line: int, heading: str, languages: list[str]):
    kind, body = match.group(1).lower(), match.group(2).strip()
    if kind == "pause":
        return _segment({"pause": body or "1", "id": heading}, name, line, languages)
    if kind == "cue":
        seconds = re.search(r"\s(\d+(?:\.\d+)?)\s*s?$", " " + body)
        cue = body[: seconds.start() - 1].strip() if seconds else body
        fields = {"cue": cue or "cue", "id": heading}
        if seconds:
            fields["seconds"] = seconds.group(1)
        return _segment(fields, name, line, languages)
    parts = [p.strip() for p in body.split("|")]
    fields = {"speaker": parts[0], "id": heading}
    if len(parts) > 1:
        fields["title"] = parts[1]
    if len(parts) > 2:
        fields["seconds"] = parts[2]
    if not parts[0]:
        raise RundownError(f"{name} line {line}: [speaker …] needs the speaker's name")
    return _segment(fields, name, line, languages)
