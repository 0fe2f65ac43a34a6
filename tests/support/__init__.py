"""What the tests share, said once: the harness that drives the real bot, the steps a person
takes (tests.support.steps), the fakes (TronScan, the HTTP Bot API) and the constants the
configuration uses. Test modules import from here, never from each other; fixtures come from
the ``conftest.py`` of their folder."""
