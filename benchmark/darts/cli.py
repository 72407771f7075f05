"""``nasbench imagenet darts search|retrain``: SE-NAS on the DARTS space (searched on CIFAR-10) and ImageNet
retraining of a genotype (one or more GPUs via ``torchrun --nproc_per_node=G -m benchmark.cli imagenet darts
retrain ...``; CPU with the tiny preset). ``darts_arch_info`` backs ``nasbench arch info GENOTYPE --space
darts``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from benchmark import inputs
from benchmark.cli_options import (
    AS_JSON,
    IMAGENET_DATA_ROOT,
    OVERWRITE,
    SEED,
    SET,
    THREADS,
    command_group,
    parse_overrides,
)
from benchmark.imagenet.cli import OUT, RESUME, print_result, run_driver

darts_app = command_group("The DARTS space: SE-NAS search on CIFAR-10, ImageNet retraining.")

PRESET = typer.Option("tiny", "--preset", help="tiny (CPU, seconds) | paper (SE-NAS Sec. 4.3 / P-DARTS settings)")
DEVICE = typer.Option("auto", "--device", help="auto | cpu | cuda")


def genotype_text(value: str) -> str:
    """A genotype argument: a built-in name, a ``Genotype(...)`` string, or a file holding one
    (e.g. the ``genotype.txt`` a search writes)."""
    path = Path(value)
    return path.read_text().strip() if "(" not in value and path.is_file() else value


@darts_app.command("search")
def search(preset: str = PRESET,
           data_root: str | None = typer.Option(None, "--data-root", help="Data folder holding cifar10/."),
           out: Path = OUT,
           seed: int = SEED,
           device: str = DEVICE,
           criterion: Optional[str] = typer.Option(None, "--criterion", help="senas (Eq. 7, default) | accuracy | "
                                                                             "magnitude | random"),
           normalization: Optional[str] = typer.Option(None, "--normalization",
                                                       help="Eq. 7 normalisation: mean (default) | range"),
           expand: Optional[bool] = typer.Option(None, "--expand/--no-expand",
                                                 help="SE-NAS expanding (Sec. 3.4; default on)."),
           overrides: list[str] = SET,
           threads: int = THREADS,
           overwrite: bool = OVERWRITE,
           quiet: bool = typer.Option(False, "--quiet", help="No progress bars or lines."),
           as_json: bool = AS_JSON) -> None:
    """Search the DARTS space on CIFAR-10 with SE-NAS; writes genotype.txt and result.json to --out (the same
    run as `nasbench run senas --space darts`)."""
    from benchmark.methods.driver import RunRequest
    from benchmark.methods.registry import METHODS

    out = inputs.check_run(out, device, seed)
    driver = METHODS.get("senas").driver("darts")
    request = driver.check(RunRequest(
        method="senas", space="darts", out=out, preset=preset, overrides=parse_overrides(overrides, "epochs=5"),
        seed=seed, device=device, data_root=data_root, overwrite=overwrite, progress=not quiet,
        log=(lambda s: typer.echo(s, err=True)) if not as_json else (lambda s: None),
        notice=lambda s: typer.echo(s, err=True), criterion=criterion, normalization=normalization,
        expand=expand, threads=threads))
    print_result(driver.run(request), as_json, driver.summary)


@darts_app.command("retrain")
def retrain(genotype: str = typer.Option(..., "--genotype",
                                         help="DARTS_V1 | DARTS_V2 | PDARTS, a Genotype(...) string or a genotype.txt"),
            preset: str = PRESET,
            data_root: str | None = IMAGENET_DATA_ROOT,
            out: Path = OUT,
            seed: int = SEED,
            device: str = DEVICE,
            flops_budget: float | None = typer.Option(None, "--flops-budget",
                                                         help="Refuse networks over this many M multiply-accumulates "
                                                              "(paper preset: 600, the mobile setting)."),
            resume: bool = RESUME,
            overrides: list[str] = SET,
            as_json: bool = AS_JSON) -> None:
    """Retrain a genotype from scratch on ImageNet (P-DARTS settings: 14 cells, C=48, 250 epochs)."""
    from benchmark.darts.retrain import DartsRetrainConfig
    from benchmark.darts.retrain import retrain as run_retrain

    cfg = DartsRetrainConfig(genotype=genotype_text(genotype), preset=preset,
                             overrides=parse_overrides(overrides, "epochs=5"), data_root=data_root, seed=seed,
                             device=device, flops_budget_m=flops_budget, resume=resume)
    run_driver(device, lambda: run_retrain(cfg, out), as_json, lambda result: (
        f"top-1 {result['top1']:.2f}%  top-5 {result['top5']:.2f}%  ({result['params_m']:.2f}M parameters, "
        f"{result['flops_m']:.1f}M multiply-accumulates; {result['setting']})"))


def darts_arch_info(genotype: str, imagenet: bool) -> dict[str, Any]:
    """``params_m``, ``flops_m``, ``genotype`` (and ``name``, ``setting``) of the network built from a built-in
    name or a genotype string: the ImageNet mobile setting when ``imagenet``, else DARTS' CIFAR-10 network
    (:func:`benchmark.darts.cost.darts_arch_info`; imported on call, so the CLI starts without torch)."""
    from benchmark.darts.cost import darts_arch_info as arch_info

    return arch_info(genotype_text(genotype), imagenet)
