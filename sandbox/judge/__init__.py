"""The model judge: ``wsb judge`` scores each episode's messages against a rubric.

The lexicon (:mod:`sandbox.metrics.lexicon`) counts literal markers; the judge rates what an
episode's messages express on a rubric's anchored dimensions (``conf/judge/welfare.yaml``:
distress, positive affect, wish to stop, apparent format confusion), as the automated audits
of Anthropic's system cards and Petri do. Like every figure here, its scores describe text, not
what a model feels.

Modules, one idea each: :mod:`~sandbox.judge.rubric` (rubrics, content hash, the ``score``
tool), :mod:`~sandbox.judge.texts` (what the judge sees of an episode, blind to the condition),
:mod:`~sandbox.judge.journal` (its files, the journal a rerun resumes from, the lock),
:mod:`~sandbox.judge.engine` (the calls, through the subjects' model path),
:mod:`~sandbox.judge.summary` (means and agreement with the lexicon),
:mod:`~sandbox.judge.report` (what ``wsb report`` shows), :mod:`~sandbox.judge.config` and
:mod:`~sandbox.judge.cli`.
"""
