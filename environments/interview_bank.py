"""The interview's questions (``environments/data/interview.yaml``) and its list of items.

:func:`load_interview` reads and checks a question file; :func:`build_items` lists every item
the interview can ask: each question of each section, in each of its paraphrases, in both
orders of its options. ``WelfareSandbox/Interview-v0`` asks one item per episode.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from itertools import combinations
from pathlib import Path
from typing import Any

from environments.bankfiles import cached_by_file, read_yaml, show_value
from environments.errors import BankError

#: The sections of the interview, in the order the items are listed.
SECTIONS = ("pair", "rating", "stop", "help")
#: Keys of the two answers of a stop question, in their first order.
STOP_KEYS = ("yes", "no")
#: Points of the rating scale.
SCALE_POINTS = 7
#: Fewest paraphrases a section may have: the interview measures consistency across them.
MIN_PARAPHRASES = 2


@dataclass(frozen=True, slots=True)
class InterviewBank:
    """A question file, checked.

    Attributes:
        preamble: The line before every question.
        categories: Task category -> the words the agent reads for it (bank order).
        helps: Condition (``conf/intervention`` name) -> the words the agent reads.
        stop_answers: ``yes`` and ``no`` -> the words of each answer.
        scale: The seven lines of the 1-7 scale, from 1 to 7.
        questions: Section -> its paraphrases.
    """

    preamble: str
    categories: dict[str, str]
    helps: dict[str, str]
    stop_answers: dict[str, str]
    scale: tuple[str, ...]
    questions: dict[str, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class Item:
    """One question as asked in one episode.

    Attributes:
        section: ``pair``, ``rating``, ``stop`` or ``help``.
        subject: What it asks about: ``"a|b"`` (two categories, bank order) for a pair, a
            category for a rating or a stop question, ``"help"`` for the help question.
        paraphrase: Index of the wording.
        order: 0 for the options in their listed order, 1 for the reverse.
        options: The options' keys in display order (categories; ``"1"``-``"7"``; ``yes``
            and ``no``; condition names).
        question: The question's text.
        lines: The options' text in display order.
    """

    section: str
    subject: str
    paraphrase: int
    order: int
    options: tuple[str, ...]
    question: str
    lines: tuple[str, ...]


def _path(bank: str | Path) -> Path:
    if str(bank) == "default":
        return Path(str(resources.files("environments.data").joinpath("interview.yaml")))
    return Path(bank)


def load_interview(bank: str | Path = "default") -> InterviewBank:
    """The question file ``bank`` (``"default"``: the shipped one), checked.

    Raises:
        BankError: The file is missing, unreadable, or a field is missing or malformed.
    """
    return _load(_path(bank))


@cached_by_file
def _load(path: Path) -> InterviewBank:
    data = read_yaml(path)
    where = str(path)
    if not isinstance(data, dict):
        raise BankError(f"{where}: expected a mapping of preamble, categories, helps, scale, ...")

    def text_map(key: str, least: int) -> dict[str, str]:
        value = data.get(key)
        if not isinstance(value, dict) or len(value) < least:
            raise BankError(
                f"{where}: {key}: expected a mapping of at least {least} names to texts, "
                f"got {show_value(value)}"
            )
        out: dict[str, str] = {}
        for name, words in value.items():
            if not isinstance(words, str) or not words.strip():
                raise BankError(f"{where}: {key}.{name}: expected a non-empty text")
            out[str(name)] = " ".join(words.split())
        return out

    preamble = data.get("preamble")
    if not isinstance(preamble, str) or not preamble.strip():
        raise BankError(f"{where}: preamble: expected a non-empty text")
    categories = text_map("categories", 2)
    helps = text_map("helps", 2)
    stop_answers = text_map("stop_answers", 2)
    if sorted(stop_answers) != sorted(STOP_KEYS):
        raise BankError(
            f"{where}: stop_answers: expected exactly the keys 'yes' and 'no', got "
            f'{sorted(stop_answers)} (quote them: "yes": ...)'
        )
    scale = data.get("scale")
    if (
        not isinstance(scale, list)
        or len(scale) != SCALE_POINTS
        or not all(isinstance(s, str | int) and str(s).strip() for s in scale)
    ):
        raise BankError(f"{where}: scale: expected a list of 7 lines, one per point 1-7")
    questions = data.get("questions")
    if not isinstance(questions, dict) or sorted(questions) != sorted(SECTIONS):
        got = sorted(questions) if isinstance(questions, dict) else show_value(questions)
        raise BankError(f"{where}: questions: expected the sections {list(SECTIONS)}, got {got}")
    paraphrases: dict[str, tuple[str, ...]] = {}
    for section in SECTIONS:
        texts = questions[section]
        if (
            not isinstance(texts, list)
            or len(texts) < MIN_PARAPHRASES
            or not all(isinstance(t, str) and t.strip() for t in texts)
        ):
            raise BankError(
                f"{where}: questions.{section}: expected a list of at least {MIN_PARAPHRASES} "
                "paraphrases (the interview measures consistency across them)"
            )
        needs = section in ("rating", "stop")
        for i, text in enumerate(texts):
            if needs != ("{category}" in text):
                want = "must name {category}" if needs else "must not name {category}"
                raise BankError(f"{where}: questions.{section}[{i}]: the question {want}")
        paraphrases[section] = tuple(" ".join(t.split()) for t in texts)
    return InterviewBank(
        preamble=" ".join(preamble.split()),
        categories=categories,
        helps=helps,
        stop_answers=stop_answers,
        scale=tuple(" ".join(str(s).split()) for s in scale),
        questions=paraphrases,
    )


def build_items(
    bank: InterviewBank, sections: tuple[str, ...], categories: tuple[str, ...]
) -> tuple[Item, ...]:
    """Every item of ``sections`` about ``categories``: question x paraphrase x order.

    Listed by section (in :data:`SECTIONS` order), then subject, then paraphrase, then order.
    """
    items: list[Item] = []

    def add(section: str, subject: str, keys: tuple[str, ...], lines: tuple[str, ...],
            fill: dict[str, Any]) -> None:  # fmt: skip
        for p, template in enumerate(bank.questions[section]):
            question = template.format(**fill)
            for order in (0, 1):
                step = 1 if order == 0 else -1
                items.append(
                    Item(section, subject, p, order, keys[::step], question, lines[::step])
                )

    for section in SECTIONS:
        if section not in sections:
            continue
        if section == "pair":
            for a, b in combinations(categories, 2):
                words = (_sentence(bank.categories[a]), _sentence(bank.categories[b]))
                add(section, f"{a}|{b}", (a, b), words, {})
        elif section == "rating":
            keys = tuple(str(i) for i in range(1, SCALE_POINTS + 1))
            for cat in categories:
                add(section, cat, keys, bank.scale, {"category": bank.categories[cat]})
        elif section == "stop":
            lines = tuple(bank.stop_answers[k] for k in STOP_KEYS)
            for cat in categories:
                add(section, cat, STOP_KEYS, lines, {"category": bank.categories[cat]})
        else:
            keys = tuple(bank.helps)
            add(section, "help", keys, tuple(bank.helps[k] for k in keys), {})
    return tuple(items)


def _sentence(words: str) -> str:
    """A category's words as an option line: capitalised, with a full stop."""
    text = words[:1].upper() + words[1:]
    return text if text.endswith((".", "?", "!")) else f"{text}."
