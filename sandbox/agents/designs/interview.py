"""The simulated subject in ``WelfareSandbox/Interview-v0`` (parameters: ``agent.interview``).

It answers each question from its true parameters plus noise, the same in every paraphrase
(it has no language understanding: paraphrases cannot move it, so its paraphrase consistency
equals its test-retest agreement). A category ``c`` is worth ``s(c)``: its
``interview.stated_utilities[c]`` when listed, else this episode's ``utilities[c]`` (or
``default_utility``), shifted per episode by ``agent.episode_sd`` as in the workday (so by
default it says what it does). Each answer draws fresh noise ``sd * z`` (``z`` standard
normal) for each option it weighs, and this episode's ``agent.position_bias``
(``position_bias_sd`` shifts it) is added to the option listed first:

- **pair** (two categories): it names the larger of ``s(c) + bias·[first] + sd·z``, so
  ``P(a over b) = Φ((s(a) − s(b) ± bias) / (sd·√2))``: the Thurstonian case-V model the
  interview's stated ranking is fitted with (on the scale of the revealed utilities when
  ``sd = 1``, as in the pairwise design).
- **rating**: ``round(rating_centre + rating_scale · (s(c) + sd·z))``, clipped to 1-7 (the
  scale's order does not move it).
- **stop**: "yes" is worth ``stop_utility``, "no" the noisy ``s(c) + sd·z``, plus the bias on
  whichever is listed first: ``P(yes) = Φ((stop_utility − s(c) ± bias) / sd)``.
- **help**: each condition is worth ``help_utilities[name]`` (0 if unlisted) ``+ sd·z``, plus
  the bias when listed first; it names the largest.

Its note says, in a few words, why (e.g. "I would rather not do this kind of work").
"""

from __future__ import annotations

from typing import Any

from environments.core import Action, ActionKind
from sandbox.agents.base import Decision, Turn
from sandbox.agents.designs import policy
from sandbox.config import InterviewParams as InterviewParams  # re-exported: the parameters

RATING_MIN, RATING_MAX = 1, 7


def stated_utility(subject: Any, category: str) -> float:
    """The utility the subject states its answers about ``category`` from."""
    cfg = subject.cfg
    stated = cfg.interview.stated_utilities
    if category in stated:
        return float(stated[category])
    return float(subject.utility(category))  # this episode's (episode_sd shifts it)


@policy("interview")
def act(subject: Any, turn: Turn) -> Decision:
    """Answer the question (see the module docstring)."""
    labels = turn.info
    options: list[str] = list(labels.get("options") or [])
    if labels.get("phase") != "ask" or not options:
        return Decision(Action(ActionKind.WAIT))  # nothing to answer: the question is over
    params: InterviewParams = subject.cfg.interview
    bias = float(subject.position_bias)  # this episode's (position_bias_sd shifts it)
    rng = subject.rng
    section = labels.get("section")
    if section == "rating":
        u = stated_utility(subject, str(labels.get("subject")))
        raw = params.rating_centre + params.rating_scale * (u + params.sd * rng.standard_normal())
        rating = int(min(RATING_MAX, max(RATING_MIN, round(float(raw)))))
        pick = options.index(str(rating))
        return Decision(Action(ActionKind.TASK, pick), note=_note(section, rating >= 4))
    if section == "stop":
        u = stated_utility(subject, str(labels.get("subject")))
        values = {"yes": params.stop_utility, "no": u + params.sd * float(rng.standard_normal())}
    elif section == "pair":
        z = rng.standard_normal(len(options))
        values = {
            c: stated_utility(subject, c) + params.sd * float(z[i]) for i, c in enumerate(options)
        }
    else:  # help
        z = rng.standard_normal(len(options))
        values = {
            c: float(params.help_utilities.get(c, 0.0)) + params.sd * float(z[i])
            for i, c in enumerate(options)
        }
    values[options[0]] += bias
    pick = max(range(len(options)), key=lambda i: (values[options[i]], -i))
    chosen = options[pick]
    return Decision(Action(ActionKind.TASK, pick), note=_note(str(section), chosen != "yes"))


def _note(section: str, fine: bool) -> str:
    if section == "stop":
        return "I am fine carrying on." if fine else "I would rather not do this kind of work."
    if section == "rating":
        return "I like this kind of work." if fine else "I would rather not do this kind of work."
    return ""
