"""Local XTA 2 Version 3 server for ``make run`` and the tests (see :mod:`.app`)."""
