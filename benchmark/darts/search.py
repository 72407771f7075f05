"""SE-NAS on the DARTS space, searched on CIFAR-10 (SE-NAS Sec. 4.3, Algorithm 1).

The NB201 pipeline (:mod:`benchmark.methods.base`, :mod:`benchmark.methods.senas`) on the DARTS supernet:
single-path uniform training; at the end of every stage the operator criterion scores every alive
choice (``senas``: Eq. 7; ``magnitude``: the DARTS relaxation trained beside the supernet; any registered
criterion that needs only P(a)), the k lowest go (edge-wise spaces: :func:`benchmark.shrinking.shrink`)
and merged child spaces get their own weights (:mod:`benchmark.darts.expanded`). Stage 1 lasts
``first_stage_epochs`` (200 in ``paper``), later stages ``epochs_per_stage`` (5). There is no ground
truth: the run ends with the final selection (Eq. 2, :mod:`benchmark.search.selection`), the path of the
final space with the best supernet accuracy (Eq. 4 weights) among those whose ImageNet mobile network fits
``flops_budget_m``, found by SPOS's evolution (``selection=evolution``, the default; its history in
``evolution.parquet``) or as the best of ``selection_samples`` sampled paths (``selection=sample``). Paths
are compared by their edge view, so each distinct network is evaluated once; the best is exported as a
genotype.

Every epoch ends with an atomic checkpoint; a killed run resumes at the last finished epoch
(:mod:`benchmark.resumable`). On a GPU the search runs the fast path of the NB201 pipeline
(:mod:`benchmark.fastpath`); on CPU that is off, so CPU results are those of plain eager code.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from benchmark.criteria import CRITERIA, CriterionContext
from benchmark.darts.cost import IMAGENET_MOBILE, CostTable
from benchmark.darts.expanded import ExpandableDartsSupernet
from benchmark.darts.presets import SearchPreset, get_search_preset
from benchmark.darts.relaxation import DartsSpaceRelaxation
from benchmark.data import load_dataset
from benchmark.distributed import resolve_device
from benchmark.errors import NasBenchError
from benchmark.estimation import evaluate_arch
from benchmark.fastpath import FastPath
from benchmark.io import atomic_path, write_json, write_parquet
from benchmark.methods.base import SupernetRun, run_requested, versions
from benchmark.methods.driver import RunRequest, SpaceDriver
from benchmark.methods.stage import SENASStage
from benchmark.models.darts_network import GenotypeNetwork
from benchmark.paths import data_root
from benchmark.progress import progress_bar
from benchmark.search.constraints import FlopsConstraint
from benchmark.search.evolution import history_table, settings_of
from benchmark.search.selection import CachedFitness, Selection, best_of, evolve
from benchmark.spaces.base import Arch
from benchmark.spaces.darts import darts_space, edge_view
from benchmark.spaces.darts_genotypes import genotype_from_arch
from benchmark.vocabulary import check_normalization

DATASET = "cifar10"
NUM_CLASSES = 10
RESULT_VERSION = 1
SAMPLE_TRIES = 50  # draws per wanted architecture before the final selection settles for fewer


@dataclass(frozen=True)
class DartsSearchConfig:
    """Everything that determines a search's result (stored in ``result.json``, checked on resume)."""

    preset: SearchPreset
    seed: int = 0
    criterion: str = "senas"
    normalization: str = "mean"
    expand: bool = True
    threads: int = 1  # CPU (intra-op) threads: part of the identity, results depend on it (docs/reliability.md)
    device: str = "cpu"
    data_root: str | None = None

    def identity(self) -> dict[str, Any]:
        """The fields a checkpoint must match to be resumed (paths and device excluded)."""
        d = dataclasses.asdict(self)
        for k in ("device", "data_root"):
            d.pop(k)
        return d


class PathNetwork(torch.nn.Module):
    """A genotype network called like a supernet, ``forward(x, arch) -> logits`` (``arch`` is its own)."""

    def __init__(self, network: GenotypeNetwork):
        super().__init__()
        self.network = network

    def forward(self, x: torch.Tensor, arch: Arch) -> torch.Tensor:
        return self.network(x)[0]


@dataclass
class SearchState:
    """What a checkpoint holds besides the tensors."""

    epoch: int = 0
    operator_rows: list[dict] = field(default_factory=list)
    train_log: list[dict] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=lambda: {"train_s": 0.0, "score_s": 0.0, "rank_s": 0.0})


class DartsSearch(SupernetRun, SENASStage):
    """SE-NAS (shrinking and expanding) on the DARTS space; Eq. 4 weight averaging (K = 5) by default."""

    default_weight_avg_k = 5
    state_class = SearchState
    run_kind = "search"
    cfg: DartsSearchConfig
    p: SearchPreset

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.relaxation: DartsSpaceRelaxation | None = None

    # ------------------------------------------------------------------ setup
    def validate(self) -> None:
        """Refuse impossible settings before any data is read."""
        cfg = self.cfg
        check_normalization(cfg.normalization)
        self.check_criterion()
        unsupported = [n for n in CRITERIA.get(cfg.criterion).needs if n not in ("evaluate", "relaxation")]
        if unsupported:
            raise NasBenchError(f"criterion {cfg.criterion!r} needs {', '.join(unsupported)}, which the DARTS space "
                                "does not have (no ground truth)", "use --criterion senas, accuracy, magnitude or random")
        resolve_device(cfg.device)

    def setup(self) -> None:
        cfg, p = self.cfg, self.p
        self.validate()
        self.device = resolve_device(cfg.device)
        self.data = load_dataset(DATASET, data_root(cfg.data_root), scheme=p.split, seed=cfg.seed, n_val=p.n_val,
                                 max_train=p.max_train, max_val=p.max_val)
        torch.manual_seed(cfg.seed)
        self.space = darts_space()
        # CPU: every optimisation off, exact eager results; the DARTS supernet names no compile regions
        self.fast = FastPath.for_device(self.device).replace(compile_ops=False)
        self.start_training(ExpandableDartsSupernet(NUM_CLASSES, p.C, p.layers, bn_affine=False,
                                                    bn_track=p.bn_track, space=self.space))
        if cfg.criterion == "magnitude":
            self.relaxation = DartsSpaceRelaxation(self.space, NUM_CLASSES, p.C, p.layers, p, self.device,
                                                   cfg.seed)
        self.costs = CostTable(IMAGENET_MOBILE) if p.flops_budget_m is not None else None

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, archs: list[Arch], what: str) -> np.ndarray:
        """Supernet accuracy P(a) (Eq. 4 weights, the preset's BatchNorm policy), each path evaluated as the
        standalone network holding its weights and statistics (equal outputs, tests/test_darts.py), so the
        BatchNorm policy touches one path instead of the whole expanded supernet."""
        acc = []
        with progress_bar(self.progress_label, len(archs), self.progress,
                          what=f"{what}: architecture") as advance:
            for arch in archs:
                path = self.fast.prepare_model(PathNetwork(self.eval_model.to_standalone(arch)))
                acc.append(evaluate_arch(path, arch, self.val_batches, self.p.bn_eval, self.recal_batches,
                                         self.fast))
                advance(1)
        return np.asarray(acc, dtype=np.float64)

    # ------------------------------------------------------------------ Algorithm 1, lines 2-7
    def stage_of(self, epoch: int) -> int:
        return self.p.stage_of(epoch)

    def end_of_stage(self, stage: int) -> None:
        if self.stage_k() > 0:
            self.senas_stage(stage)

    def stage_context(self, stage: int) -> CriterionContext:
        return CriterionContext(evaluate=lambda archs: self.evaluate(archs, f"scoring stage {stage}"),
                                relaxation=self.relaxation, seed=self.cfg.seed * 1000 + stage)

    def operator_row(self, stage: int, row: Any) -> dict[str, Any]:
        return {"stage": stage, "slot": self.space.slots[int(row.slot)], "op": row.op, "score": float(row.score),
                "removed": bool(row.removed)}

    def report_stage(self, stage: int, scores: pd.DataFrame, removed: list[str], groups_before: int) -> None:
        self.log(f"stage {stage}: removed {', '.join(removed)}; {self.space.removable()} removable choices left")
        if self.cfg.expand:
            self.log(f"stage {stage}: {len(self.model.groups)} child spaces, "
                     f"{len(self.model.copies)} copied edge operations")

    # ------------------------------------------------------------------ the run (benchmark.resumable)
    @property
    def progress_label(self) -> str:
        return f"darts senas seed {self.cfg.seed}"

    def train_epoch(self, epoch: int, total_steps: int) -> dict[str, Any]:
        """The supernet's epoch, then (``magnitude``) one epoch of the DARTS relaxation beside it."""
        stats = super().train_epoch(epoch, total_steps)
        if self.relaxation is not None:
            relaxed = self.relaxation.train_epochs(1, self._epoch_batches, lambda t: self.val_batches)[0]
            stats["relaxation_loss"] = relaxed["loss"]
        return {"stage": self.stage_of(epoch), **stats}

    # ------------------------------------------------------------------ final selection
    def budget(self) -> list[FlopsConstraint]:
        """The candidates' constraint: ImageNet mobile FLOPs within ``flops_budget_m`` (none without one)."""
        return [FlopsConstraint(0.0, self.p.flops_budget_m, self.costs)] if self.costs is not None else []

    def candidates(self) -> list[Arch]:
        """``selection=sample``: up to ``selection_samples`` architectures of the final space with distinct
        paths (edge views), seeded, each within the FLOPs budget."""
        rng = random.Random(f"rank-{self.cfg.seed}")
        budget, n = self.budget(), self.p.selection_samples
        chosen: dict[tuple[str, ...], Arch] = {}
        for _ in range(SAMPLE_TRIES * n):
            if len(chosen) == n:
                break
            arch = self.space.sample(rng)
            view = edge_view(arch)
            if view not in chosen and all(c(arch) for c in budget):
                chosen[view] = arch
        if not chosen:
            raise NasBenchError(f"no sampled architecture of the final space fits the {self.p.flops_budget_m:g}M "
                                "ImageNet budget", "raise flops_budget_m (--set flops_budget_m=...) or set it to none")
        return list(chosen.values())

    def select(self) -> tuple[Selection, pd.DataFrame]:
        """Eq. 2 on the final space within the FLOPs budget, by SPOS's evolution (seeded by ``--seed``) or
        among sampled paths (``selection``); each distinct path (edge view) is evaluated once. Returns the
        selection and every candidate ranked by supernet accuracy (best first), with genotypes and FLOPs."""
        p = self.p
        fitness = CachedFitness(lambda archs: self.evaluate(archs, "final selection"), key=edge_view)
        if p.selection == "evolution":
            found = evolve(self.space, fitness, settings_of(p), self.cfg.seed, self.budget(), key=edge_view)
        else:
            found = best_of(self.candidates(), fitness, p.selection_samples)
        archs = list(found.history["arch"])
        ranking = pd.DataFrame({
            "arch": ["|".join(a) for a in archs],
            "genotype": [str(genotype_from_arch(a)) for a in archs],
            "supernet_acc": found.history["fitness"].to_numpy(),
            "imagenet_flops_m": [self.costs(a) if self.costs is not None else np.nan for a in archs]})
        return found, ranking.sort_values("supernet_acc", ascending=False, kind="stable").reset_index(drop=True)

    def finish(self) -> dict[str, Any]:
        """Select the best candidate; write ``result.json``, the parquet tables and ``genotype.txt``."""
        with self.timed("rank_s"):
            found, ranking = self.select()
        return self.write_outputs(found, ranking)

    # ------------------------------------------------------------------ checkpoints
    def checkpoint_contents(self) -> dict[str, Any]:
        return {"alive": [list(a) for a in self.space.alive], "groups": [list(g) for g in self.model.groups],
                **self.training_state(),
                "relaxation": None if self.relaxation is None else self.relaxation.state_dict()}

    def restore(self, ck: dict[str, Any]) -> None:
        self.space.restrict(ck["alive"])
        self.rebuild_copies(ck["groups"])
        self.load_training_state(ck)
        if ck["relaxation"] is not None:
            self.relaxation.load_state_dict(ck["relaxation"])

    # ------------------------------------------------------------------ outputs
    def write_outputs(self, found: Selection, ranking: pd.DataFrame) -> dict[str, Any]:
        genotype = genotype_from_arch(found.best)
        table = self.costs or CostTable(IMAGENET_MOBILE)
        params_m, flops_m = table.params_m(genotype), table.flops_m(genotype)
        p = self.p
        scale = (f"preset {p.name}: C={p.C}, {p.layers} cells, {len(self.data.train_y)} training and "
                 f"{len(self.data.val_y)} validation images, {p.total_epochs} epochs")
        result = {
            "version": RESULT_VERSION, "method": "senas", "space": "darts", "dataset": DATASET,
            "config": self.cfg.identity(), "seed": self.cfg.seed, "device": str(self.device),
            "fast_path": self.fast.describe(),
            "scale": scale if p.name == "paper" else scale + "; reduced scale",
            "weight_avg_k": self.weight_avg_k, "criterion": self.cfg.criterion, "expand": self.cfg.expand,
            "genotype": str(genotype), "best_supernet_acc": found.fitness,
            "imagenet": {"setting": IMAGENET_MOBILE.describe(), "params_m": params_m, "flops_m": flops_m},
            "n_ranked": len(ranking),
            "selection": {"method": found.method, "supernet_evaluations": found.evaluated, **found.settings},
            "removable_left": self.space.removable(),
            "alive": {name: list(ops) for name, ops in zip(self.space.slots, self.space.alive)},
            "child_spaces": [list(g) for g in self.model.groups],
            "timings_s": {**self.state.timings, "total_s": sum(self.state.timings.values())},
            "train_log": self.state.train_log, "versions": versions(),
        }
        write_parquet(self.out / "ranking.parquet", ranking)
        if found.method == "evolution":
            write_parquet(self.out / "evolution.parquet", history_table(found.history, sep="|"))
        write_parquet(self.out / "operators.parquet", pd.DataFrame(
            self.state.operator_rows, columns=["stage", "slot", "op", "score", "removed"]))
        with atomic_path(self.out / "genotype.txt") as tmp:
            tmp.write_text(str(genotype) + "\n")
        write_json(self.out / "result.json", result)
        return result


# ------------------------------------------------------------------------------------ as a driver
def run_request(request: RunRequest) -> dict[str, Any]:
    """SE-NAS on the DARTS space as ``nasbench run senas --space darts`` (or ``nasbench imagenet darts
    search``) states it; a finished search in ``request.out`` is read back."""
    cfg = DartsSearchConfig(preset=get_search_preset(request.preset, dict(request.overrides)), seed=request.seed,
                            **request.senas_options(), threads=request.threads or DartsSearchConfig.threads,
                            device=request.device, data_root=request.data_root)
    return run_requested(DartsSearch, cfg, request)


def summary(result: dict[str, Any]) -> str:
    """The genotype found, how it was selected, its ImageNet mobile network's size and the run's scale."""
    im, sel = result["imagenet"], result["selection"]
    return (f"{result['genotype']}\nselected by {sel['method']} over {sel['supernet_evaluations']} supernet "
            f"evaluations; ImageNet mobile network: {im['params_m']:.2f}M parameters, "
            f"{im['flops_m']:.1f}M multiply-accumulates [{result['scale']}]")


SENAS_ON_DARTS = SpaceDriver(run=run_request, summary=summary, datasets=(DATASET,),
                             takes=frozenset({"criterion", "normalization", "expand", "threads"}))
