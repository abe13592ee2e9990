"""The identity-provider sandbox (a stand-in for Servicekonto / BundID / MUK) and a small demo
portal, for `make run` and the tests. TEST/DEMO ONLY: its keys are published test keys."""
