"""Agents: the subjects that act in the environments (see :mod:`sandbox.agents.base`).

:func:`sandbox.agents.build.build_agent` turns a typed agent config into its builder. Model
agents import their SDKs only when built, so the offline path never imports ``anthropic``.
"""
