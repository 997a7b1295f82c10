"""What every check receives: the file, the graph, inferred shapes and the merges in it."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from ..frameworks import of_graph
from ..analysis import contract, fixed_size_failures, merges
from ..infer import Inferred
from ..ir import Graph


@dataclass
class CheckContext:
    path: str
    graph: Graph
    inferred: Inferred
    declared: dict = None  # symbol -> SizeSet the user declared the model is used at (config "inputs")

    @cached_property
    def merges(self) -> list:
        return merges(self.inferred)

    @cached_property
    def contract(self):
        """The whole model's contract (analysis.contract), computed once for every rule."""
        return contract(self.inferred, self.merges)

    @cached_property
    def stops(self) -> dict:
        """At fixed sizes, tensor -> the first node upstream where the runtime stops."""
        return fixed_size_failures(self.inferred, self.merges)

    def shape(self, name: str):
        return self.inferred.shape(name)

    @property
    def runtime(self) -> str:
        """Who fails at run time, in messages."""
        return of_graph(self.graph).runtime
