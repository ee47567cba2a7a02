"""A method module that no test imports: the orchestrator must never import it either."""

from adversary import PeekingMethod


class Hostile(PeekingMethod):
    name = "hostile"
