"""Supernet parameters expanding (SE-NAS Sec. 3.4, Algorithm 1 lines 4-7), shared by every supernet.

:class:`ExpandableSupernet` holds the merged child spaces and one weight copy per (module, partial model);
a supernet mixes it in and supplies three hooks for what its space lays out differently:

* :meth:`~ExpandableSupernet.partial_copies` -- the (copy key, site) pairs one partial model of a child
  space needs (a site is whatever the supernet uses to find a module: e.g. cell, slot and architecture);
* :meth:`~ExpandableSupernet.shared_module` -- the shared weights at a site (what :meth:`rebuild` copies);
* :meth:`~ExpandableSupernet.serving_module` -- the module serving a site now (what :meth:`expand` copies:
  the shared weights, or the copy of an earlier, smaller child space that contains the partial model).

:meth:`~ExpandableSupernet.plan_groups` may be overridden where child spaces must not cross a boundary.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from typing import Any

from torch import nn

from benchmark.expanding import copy_partial_weights, partial_models, plan_child_spaces
from benchmark.spaces.base import Arch, SearchSpace

Site = tuple[Any, ...]


class ExpandableSupernet:
    """Mixin for an ``nn.Module`` supernet whose merged child spaces hold one weight copy per partial model.

    The supernet calls :meth:`init_expanding` in its ``__init__`` (where ``copies`` is registered fixes the
    parameter order) and resolves its modules through ``group_of`` and ``copies``.
    """

    groups: list[tuple[int, ...]]
    copies: nn.ModuleDict
    group_of: dict[int, tuple[int, ...]]

    def init_expanding(self) -> None:
        """No child spaces and no copies yet (every slot uses the shared weights)."""
        self.groups = []
        self.copies = nn.ModuleDict()
        self.group_of = {}

    # ------------------------------------------------------------------------------------------- hooks
    def partial_copies(self, group: tuple[int, ...], arch: Arch) -> Iterator[tuple[str, Site]]:
        """(copy key, site) of every module of ``group`` that the partial model ``arch`` selects and that
        needs its own copy (a key may repeat across partial models: the first one counts)."""
        raise NotImplementedError

    def shared_module(self, site: Site) -> nn.Module:
        """The shared weights at ``site``."""
        raise NotImplementedError

    def serving_module(self, site: Site) -> nn.Module:
        """The module that computes ``site`` with the current child spaces."""
        raise NotImplementedError

    def plan_groups(self, space: SearchSpace, T: int) -> list[tuple[int, ...]]:
        """Child spaces after merging; existing ones stay whole (units merged shallow to deep, size <= T)."""
        return plan_child_spaces(space, self.group_of, T)

    # ------------------------------------------------------------------------------- Algorithm 1 lines 4-7
    def copy_sites(self, space: SearchSpace, groups: Sequence[tuple[int, ...]]) -> Iterator[tuple[str, Site]]:
        """(copy key, site) of every copy the partial models of ``groups`` need, each key once."""
        seen: set[str] = set()
        for group, arch in partial_models(space, groups):
            for key, site in self.partial_copies(group, arch):
                if key not in seen:
                    seen.add(key)
                    yield key, site

    def expand(self, space: SearchSpace, T: int) -> list[tuple[nn.Parameter, nn.Parameter]]:
        """Merge child spaces and copy weights for each partial model (Algorithm 1 lines 4-7).

        Returns (new parameter, the parameter it was copied from) pairs, so an optimizer's momentum can
        follow the copy. Copies of partial models that shrinking removed are dropped.
        """
        groups = self.plan_groups(space, T)
        self.copies, origins = copy_partial_weights(  # sources resolved with the groups before this merge
            (key, self.serving_module(site)) for key, site in self.copy_sites(space, groups))
        self.set_groups(groups)
        return origins

    def set_groups(self, groups: Sequence[Sequence[int]]) -> None:
        """Route the slots of ``groups`` to their copies (the copies themselves are not touched)."""
        self.groups = [tuple(g) for g in groups]
        self.group_of = {s: g for g in self.groups for s in g}

    def rebuild(self, space: SearchSpace, groups: Sequence[Sequence[int]]) -> None:
        """Recreate the copies' structure for ``groups`` (before loading a checkpoint's weights)."""
        groups = [tuple(g) for g in groups]
        self.copies = nn.ModuleDict({key: copy.deepcopy(self.shared_module(site))
                                     for key, site in self.copy_sites(space, groups)})
        self.set_groups(groups)
