"""The bottom layer: vocabularies, the symbol rule and the clock that every other layer shares (imports nothing
from the project)."""
