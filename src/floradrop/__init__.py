"""floradrop: hot folders for FLORA.

A file dropped into a watched folder travels one straight line (see ``floradrop.pipeline``):

    watch -> settle -> decide -> upload -> submit -> poll -> fetch -> file away
"""

__version__ = "0.1.0"
