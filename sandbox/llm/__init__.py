"""What model agents share, apart from any one API: the response cache, the rate limiter, the
price table, and the loopback fake Messages API used offline and in tests.

Nothing here imports ``anthropic`` or ``openai``; the agents in :mod:`sandbox.agents` do, when
they are built.
"""
