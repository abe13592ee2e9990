"""What runs per message: a compiled mapping (spec.py) and one source document -> case parts.

Nothing here reads mapping files or compiles paths and expressions; that is
:mod:`gateway.mapping.load`, which builds the spec this package walks.
"""
