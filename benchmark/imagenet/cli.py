"""``nasbench imagenet mobilenet search|retrain``: the MobileNet-like ImageNet driver (one or more GPUs via
``torchrun --nproc_per_node=G -m benchmark.cli imagenet mobilenet ...``; CPU with the tiny preset)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Optional

import typer

from benchmark.cli_options import AS_JSON, IMAGENET_DATA_ROOT, SEED, SET, command_group, parse_overrides
from benchmark.errors import NasBenchError

imagenet_app = command_group("ImageNet searches and retraining (SE-NAS Sec. 4.3).")
mobilenet_app = command_group("The MobileNet-like space (SE-NAS Table 2).")
imagenet_app.add_typer(mobilenet_app, name="mobilenet")

PRESET = typer.Option("tiny", "--preset", help="tiny (CPU, generated folder) | paper (Sec. 4.3 settings)")
DEVICE = typer.Option("auto", "--device", help="auto | cpu | cuda (one GPU per torchrun process)")
OUT = typer.Option(..., "--out", help="Run folder (resumed if it holds a checkpoint).")
RESUME = typer.Option(True, "--resume/--no-resume",
                      help="Resume from the checkpoint in --out (default), or train from scratch.")


def run_driver(device: str, run: Callable[[], dict[str, Any]], as_json: bool,
               summary: Callable[[dict[str, Any]], str]) -> None:
    """Run an ImageNet driver in torchrun's process group (or alone), leave the group, and print the main
    process's result (:func:`print_result`)."""
    from benchmark.imagenet.driver import in_process_group

    print_result(in_process_group(device, run), as_json, summary)


def print_result(result: dict[str, Any] | None, as_json: bool, summary: Callable[[dict[str, Any]], str]) -> None:
    """A run's result, all of it as JSON with ``--json``, else ``summary(result)``; nothing for None (a
    torchrun process other than the main one)."""
    if result is not None:
        typer.echo(json.dumps(result, indent=2, default=str) if as_json else summary(result))


def parse_budgets(text: str | None) -> tuple[float, ...] | None:
    """``"250,321"`` -> (250.0, 321.0); None keeps the preset's budgets."""
    if text is None:
        return None
    try:
        budgets = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise NasBenchError(f"--flops {text!r} is not a list of numbers", "write e.g. --flops 250,321,470,592") from None
    if not budgets or any(b <= 0 for b in budgets):
        raise NasBenchError(f"--flops {text!r} holds no positive budget", "write e.g. --flops 250,321,470,592")
    return budgets


@mobilenet_app.command("search")
def search(method: str = typer.Option("senas", "--method", help="senas | spos (the mobilenet space) | bsnas (its "
                                                                  "own spring space)"),
           preset: str = PRESET,
           data_root: Optional[str] = IMAGENET_DATA_ROOT,
           out: Path = OUT,
           seed: int = SEED,
           device: str = DEVICE,
           flops: Optional[str] = typer.Option(None, "--flops", help="FLOPs budgets in M, e.g. 250,321,470,592."),
           criterion: Optional[str] = typer.Option(None, "--criterion",
                                                   help="senas (Eq. 7, default) | accuracy (SI, Eq. 5)"),
           normalization: Optional[str] = typer.Option(None, "--normalization",
                                                       help="Eq. 7 normalisation: mean (default) | range"),
           expand: Optional[bool] = typer.Option(None, "--expand/--no-expand",
                                                 help="SE-NAS expanding (Sec. 3.4; default on)."),
           fair: Optional[bool] = typer.Option(None, "--fair",
                                               help="FairNAS variant: fair sampling, one removal per layer."),
           resume: bool = RESUME,
           overrides: list[str] = SET,
           as_json: bool = AS_JSON) -> None:
    """Search the MobileNet-like space under FLOPs budgets; writes arch_<budget>M.json per budget (the same
    run as `nasbench run METHOD --space mobilenet`, or `--space mobilenet-bsnas` for bsnas)."""
    from benchmark.methods.driver import RunRequest
    from benchmark.methods.registry import METHODS

    space = "mobilenet-bsnas" if method == "bsnas" else "mobilenet"
    driver = METHODS.get(method).driver(space)
    request = driver.check(RunRequest(
        method=method, space=space, out=out, preset=preset, overrides=parse_overrides(overrides, "batch_size=512"),
        seed=seed, device=device, data_root=data_root, overwrite=not resume, criterion=criterion,
        normalization=normalization, expand=expand, budgets_m=parse_budgets(flops), fair=fair))
    print_result(driver.run(request), as_json, driver.summary)


def _arch_space(path: Path) -> str | None:
    """The ``space`` an exported architecture file names (mobilenet or mobilenet-bsnas), if readable."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None  # the retrain's own reader reports the problem in one line
    return record.get("space") if isinstance(record, dict) else None


@mobilenet_app.command("retrain")
def retrain(arch: Path = typer.Option(..., "--arch", help="An arch_<budget>M.json written by search."),
            preset: str = PRESET,
            data_root: Optional[str] = IMAGENET_DATA_ROOT,
            out: Path = OUT,
            seed: int = SEED,
            device: str = DEVICE,
            label_smoothing: Optional[float] = typer.Option(None, "--label-smoothing", help="e.g. 0.1"),
            ema: Optional[float] = typer.Option(None, "--ema", help="EMA decay of the weights, e.g. 0.9999"),
            resume: bool = RESUME,
            overrides: list[str] = SET,
            as_json: bool = AS_JSON) -> None:
    """Retrain a searched architecture from scratch (240 epochs in the paper preset)."""
    from benchmark.imagenet.retrain import RetrainConfig

    if _arch_space(arch) == "mobilenet-bsnas":
        from benchmark.bsnas.imagenet import retrain as run_retrain
    else:
        from benchmark.imagenet.retrain import retrain as run_retrain

    sets = parse_overrides(overrides, "batch_size=512")
    if label_smoothing is not None:
        sets["label_smoothing"] = str(label_smoothing)
    if ema is not None:
        sets["ema_decay"] = str(ema)
    cfg = RetrainConfig(arch_path=str(arch), preset=preset, overrides=sets, data_root=data_root, seed=seed,
                        device=device, resume=resume)
    run_driver(device, lambda: run_retrain(cfg, out), as_json, lambda result: (
        f"top-1 {result['top1']:.2f}%  top-5 {result['top5']:.2f}%"
        + (f"  (EMA top-1 {result['ema_top1']:.2f}%)" if result["ema_top1"] is not None else "")))
