"""The ``nasbench`` command line. Bad input ends with a one-line ``error: ...`` and exit code 2."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any, Optional

import typer

import benchmark
from benchmark import inputs
from benchmark.cli_options import (
    AS_JSON,
    OVERWRITE,
    SEED,
    SEEDS_HELP,
    SET,
    THREADS,
    command_group,
    parse_overrides,
    parse_seeds,
    run_app,
)
from benchmark.errors import NasBenchError, disk_full

app = command_group("Benchmark one-shot NAS (SPOS, SE-NAS, BS-NAS) against the NAS-Bench-201 ground truth.",
                    add_completion=False, pretty_exceptions_enable=False)
arch_app = command_group("Architectures of a search space.")
space_app = command_group("Registered search spaces.")
data_app = command_group("Datasets.")
gt_app = command_group("Ground truth (NB201 table, official .pth, NATS-Bench).")
app.add_typer(arch_app, name="arch")
app.add_typer(space_app, name="space")
app.add_typer(data_app, name="data")
app.add_typer(gt_app, name="gt")


def _print_version(value: bool) -> None:
    if value:
        import torch

        typer.echo(f"nasbench {benchmark.__version__} (torch {torch.__version__})")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                       help="Print the toolkit and torch versions and exit.")) -> None:
    """Benchmark one-shot NAS (SPOS, SE-NAS, BS-NAS) against the NAS-Bench-201 ground truth."""


def _add_imagenet_drivers() -> None:
    """``nasbench imagenet mobilenet ...`` (SE-NAS / SPOS / BS-NAS) and ``nasbench imagenet darts ...``."""
    from benchmark.darts.cli import darts_app
    from benchmark.imagenet.cli import imagenet_app

    imagenet_app.add_typer(darts_app, name="darts")
    app.add_typer(imagenet_app, name="imagenet")


_add_imagenet_drivers()

DATA_ROOT = typer.Option(None, "--data-root", help="Data folder (else $NASBENCH_DATA, else ../shared/data).")


def _trusted_gt(value: Optional[str]) -> Optional[str]:
    """An official NB201 .pth named on the command line may be fully unpickled (``trust_pickle``)."""
    if value and value != "auto":
        from benchmark.groundtruth.official import trust_pickle

        trust_pickle(value)
    return value


GT_HELP = ("Ground truth: the compact table (.csv.gz, preferred), a NATS-tss folder, or the official NB201 .pth, "
           "which is fully unpickled (it can run code: only the file from the official release).")
GT_OPTION = typer.Option(None, "--gt", help=GT_HELP, callback=_trusted_gt)


def _warn(lines: list[str]) -> None:
    """Print warning lines on stderr."""
    for line in lines:
        typer.echo(line, err=True)


def _emit(obj: dict[str, Any], as_json: bool, lines: list[str]) -> None:
    typer.echo(json.dumps(obj, indent=2) if as_json else "\n".join(lines))


# ---------------------------------------------------------------------------------------------- arch
@arch_app.command("info")
def arch_info(arch: str = typer.Argument(..., help="NB201: a string or an index 0..15624; darts: a genotype "
                                                  "name (DARTS_V2, PDARTS), a Genotype(...) string or a file."),
              dataset: str = typer.Option("cifar10", help="cifar10 | cifar100 | imagenet16-120"),
              space: str = typer.Option("nb201", help="nb201 | darts"),
              imagenet: bool = typer.Option(False, "--imagenet/--cifar",
                                            help="darts: the ImageNet mobile network (14 cells, C=48)."),
              as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
              data_root: Optional[str] = DATA_ROOT) -> None:
    """Index, string, parameters, FLOPs and ground truth of an NB201 architecture, or the size of the
    network built from a DARTS genotype."""
    if space == "darts":
        from benchmark.darts.cli import darts_arch_info

        info = darts_arch_info(arch, imagenet)
        _emit(info, as_json, [f"{k:<9}{v}" for k, v in info.items()])
        return
    if space != "nb201":
        raise NasBenchError(f"arch info does not know space {space!r}", "use --space nb201 or --space darts")
    from benchmark.groundtruth import default_groundtruth
    from benchmark.models.complexity import nb201_params_flops
    from benchmark.paths import data_root as resolve_root
    from benchmark.spaces.nb201 import format_arch, load_index, parse_arch

    datasets = ("cifar10", "cifar100", "imagenet16-120")
    if dataset not in datasets:
        raise NasBenchError(f"unknown dataset {dataset!r}", f"choose one of: {', '.join(datasets)}")
    if (index := inputs.index_argument(arch)) is not None:
        root = resolve_root(data_root)
        string = load_index(root).to_string(index)
    else:
        string = format_arch(parse_arch(arch))
        index = None
    params_m, flops_m = nb201_params_flops(parse_arch(string), dataset)
    gt: dict[str, float] | None = None
    try:
        root = resolve_root(data_root)
        if index is None:
            index = load_index(root).to_index(string)
        gt = default_groundtruth(root).reported_accuracies(string, dataset)
    except NasBenchError as e:
        if index is None and data_root is None:
            gt = None
            typer.echo(f"note: no ground truth ({e})", err=True)
        else:
            raise
    obj = {"index": index, "arch": string, "params_m": params_m, "flops_m": flops_m, "gt": gt}
    lines = [f"index    {index}", f"arch     {string}", f"params   {params_m:.6f} M",
             f"FLOPs    {flops_m:.5f} M (multiply-accumulates, {dataset})"]
    for k, v in (gt or {}).items():
        lines.append(f"gt {k:<24} {v:.2f}")
    _emit(obj, as_json, lines)


# --------------------------------------------------------------------------------------------- space
@space_app.command("info")
def space_info(space: str = typer.Argument(..., help="A registered space, e.g. nb201."),
               as_json: bool = AS_JSON) -> None:
    """Slots, operations per slot, size and FLOPs range of a search space, and the methods that run on it."""
    from benchmark.methods.registry import METHODS
    from benchmark.spaces import SPACES

    entry = SPACES.get(space)
    s = entry.build()
    lo, hi = entry.flops_range_m() if entry.flops_range_m else (None, None)
    methods = [m for m in METHODS.names() if space in METHODS.get(m).spaces()]
    obj = {"space": space, "slots": s.num_slots, "ops_per_slot": [len(c) for c in s.choices],
           "operations": sorted({op for c in s.choices for op in c}), "size": s.size(),
           "flops_min_m": lo, "flops_max_m": hi, "methods": methods}
    lines = [f"{space}: {entry.description}", f"slots       {s.num_slots}",
             f"ops/slot    {obj['ops_per_slot']}", f"operations  {', '.join(obj['operations'])}",
             f"size        {s.size():,}"]
    if lo is not None:
        lines.append(f"FLOPs       {lo:.2f} .. {hi:.2f} M")
    lines.append(f"methods     {', '.join(methods) or 'none'} (nasbench run METHOD --space {space})")
    _emit(obj, as_json, lines)


# ----------------------------------------------------------------------------------------------- run
@app.command("run")
def run(method: str = typer.Argument(..., help="spos | spos_avg | senas | bsnas (nasbench space info NAME: "
                                                "the methods of a space)"),
        space: str = typer.Option("nb201", help="Search space: nb201 (ranked against NB201) | darts (CIFAR-10) | "
                                                "mobilenet | mobilenet-bsnas (ImageNet) | any registered one."),
        dataset: Optional[str] = typer.Option(None, help="nb201: cifar10 (default) | cifar100 | imagenet16-120; "
                                                         "darts: cifar10; mobilenet: imagenet."),
        preset: str = typer.Option("tiny", help="tiny (CPU, minutes) | paper (GPU, the paper's settings)"),
        seed: int = SEED,
        out: Path = typer.Option(..., help="Run directory (resumes if it holds an unfinished run)."),
        criterion: Optional[str] = typer.Option(None, help="Operator criterion of senas (default senas, Eq. 7)."),
        normalization: Optional[str] = typer.Option(None, help="Eq. 7 normalisation: mean (default) | range"),
        expand: Optional[bool] = typer.Option(None, "--expand/--no-expand",
                                              help="SE-NAS expanding (Sec. 3.4; default on)."),
        device: str = typer.Option("auto", help="auto | cpu | cuda"),
        compile_ops: Optional[bool] = typer.Option(None, "--compile-ops",
                                                   help="torch.compile each supernet operation (one-shot spaces; "
                                                        "docs/performance.md)."),
        flops: Optional[str] = typer.Option(None, "--flops",
                                            help="MobileNet spaces: FLOPs budgets in M, e.g. 250,321,470,592."),
        fair: Optional[bool] = typer.Option(None, "--fair", help="mobilenet: FairNAS variant (fair sampling, one "
                                                                 "removal per layer)."),
        overrides: list[str] = SET,
        data_root: Optional[str] = DATA_ROOT,
        groundtruth: Optional[str] = GT_OPTION,
        threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads (default 1); part of the "
                                                                      "run's configuration (docs/reliability.md)."),
        overwrite: bool = OVERWRITE,
        quiet: bool = typer.Option(False, "--quiet", help="No progress bars or lines."),
        as_json: bool = AS_JSON) -> None:
    """Run METHOD on a search space: on NB201 train a supernet, rank architectures and print Kendall's tau
    against the ground truth; on DARTS and the MobileNet spaces search and export the architectures found."""
    from benchmark.cpu_estimate import oneshot_workload, paper_on_cpu, unmeasured_on_cpu
    from benchmark.imagenet.cli import parse_budgets, print_result
    from benchmark.methods.driver import RunRequest
    from benchmark.methods.registry import METHODS
    from benchmark.presets import get_preset

    driver = METHODS.get(method).driver(space)
    inputs.check_run(out, device, seed, () if overwrite or not driver.ranked else inputs.ONESHOT_RESULT)
    log = (lambda s: typer.echo(s, err=True)) if not as_json else (lambda s: None)
    request = driver.check(RunRequest(
        method=method, space=space, out=out, preset=preset, overrides=parse_overrides(overrides), seed=seed,
        dataset=dataset, device=device, data_root=data_root, overwrite=overwrite, progress=not quiet, log=log,
        notice=lambda s: typer.echo(s, err=True), criterion=criterion, normalization=normalization,
        expand=expand, groundtruth=groundtruth, compile_ops=compile_ops, budgets_m=parse_budgets(flops),
        fair=fair, threads=threads))
    if driver.ranked and preset == "paper":  # SE-NAS Sec. 4.2, a GPU setting: say how long it takes on a CPU first
        p = get_preset(preset, dict(request.overrides))
        _warn(paper_on_cpu(device, p.C, p.N, threads or 1, lambda: [oneshot_workload(p, request.dataset, method)]))
    elif preset == "paper":
        _warn(unmeasured_on_cpu(device, method, space))
    print_result(driver.run(request), as_json, driver.summary)


# ------------------------------------------------------------------------------------------- compare
COMPARE_HOW = ("`nasbench compare` trains only the runs not finished yet in its `--out` folder (none, once "
               "it has run), then rewrites every file listed here.")


@app.command("compare")
def compare(out: Path = typer.Option(Path("runs/quickstart"), help="Results directory (resumable)."),
            preset: str = typer.Option("tiny", help="tiny | cpu | paper"),
            seeds: str = typer.Option("1", help=f"Seeds of every method. {SEEDS_HELP}"),
            dataset: str = typer.Option("cifar10", help="cifar10 | cifar100 | imagenet16-120"),
            overrides: list[str] = SET,
            device: str = typer.Option("auto", help="auto | cpu | cuda"),
            data_root: Optional[str] = DATA_ROOT) -> None:
    """SE-NAS against SPOS on NB201, like-for-like first: SPOS (and SPOS with Eq. 4 averaging) rank exactly
    the architectures SE-NAS ranks; then the paper's comparison (Sec. 4.2). Writes the figures, tables and
    README.md that `nasbench figures` writes, into OUT/figures."""
    from analysis.overview import README, write_overview
    from analysis.report import compare_lines
    from analysis.results import load_results, resolve_groundtruth
    from benchmark.cpu_estimate import paper_on_cpu, sweep_workloads
    from benchmark.harness.config import parse_config
    from benchmark.harness.sweep import sweep
    from benchmark.methods.base import RunConfig

    seed_list = list(parse_seeds(seeds))
    inputs.output_folder(out)
    inputs.check_device(device)
    raw = {"name": "compare", "methods": ["spos", "spos_avg", "senas"], "datasets": [dataset],
           "seeds": seed_list, "presets": [preset], "set": parse_overrides(overrides), "device": device}
    if data_root:
        raw["data_root"] = data_root
    config = parse_config(raw, "nasbench compare")
    if preset == "paper":
        paper = config.oneshot_presets[preset]
        _warn(paper_on_cpu(device, paper.C, paper.N, RunConfig.threads, lambda: sweep_workloads(config, out)))
    report = sweep(config, out)
    for line in compare_lines(out, report.index, report.paired):
        typer.echo(line)
    command = ["nasbench", "compare", "--out", str(out), "--preset", preset, "--seeds", str(seeds),
               "--dataset", dataset, *(arg for kv in overrides for arg in ("--set", kv)), "--device", device,
               *(["--data-root", data_root] if data_root else [])]
    paths = write_overview(load_results(out), out / "figures", shlex.join(command), COMPARE_HOW,
                           resolve_groundtruth("auto", data_root))
    kinds = {".png": "figure", ".md": "table"}
    for path in paths:
        if path.suffix in kinds:
            typer.echo(f"{'overview' if path.name == README else kinds[path.suffix]}: {path}")
    if report.failed:
        raise NasBenchError(f"{len(report.failed)} run(s) failed: {', '.join(report.failed)}",
                            f"see error.json in {out}/runs/<run_id>/")


# ---------------------------------------------------------------------------------------------- data
@data_app.command("download")
def data_download(dataset: str = typer.Argument(..., help="cifar10 | cifar100"),
                  url: Optional[str] = typer.Option(None, help="Mirror or file:// URL of the official archive."),
                  data_root: Optional[str] = DATA_ROOT) -> None:
    """Fetch the official archive, check its md5 and unpack it under the data root."""
    from benchmark.data.download import download

    root = Path(data_root) if data_root else Path("data")
    path = download(dataset, root, url=url)
    typer.echo(f"{dataset} ready in {path}")


# ------------------------------------------------------------------------------------------------ gt
@gt_app.command("build")
def gt_build(source: Path = typer.Option(..., "--from", callback=_trusted_gt,
                                         help="Official .pth file (fully unpickled: it can run code, so only "
                                              "the file from the official release) or NATS-tss folder."),
             out: Path = typer.Option(..., "--out", help="Compact table to write (.csv.gz).")) -> None:
    """Turn an official ground-truth source into the compact table once, so later runs load in a second."""
    from benchmark.groundtruth import build_table

    build_table(source, inputs.output_file(out))
    typer.echo(f"wrote {out}")


# ------------------------------------------------------------------------------------------- figures
FIGURES_HOW = ("`nasbench figures` only reads the results directory (it trains nothing) and rewrites every "
               "file listed here.")


@app.command("figures")
def figures(results_dir: Path = typer.Argument(..., help="Results directory of a sweep (holds index.parquet)."),
            out: Path = typer.Option(..., "--out", help="Folder for the figures, tables and README.md."),
            groundtruth: str = typer.Option(
                "auto", "--gt", callback=_trusted_gt,
                help="Ground truth that ranks standalone runs (Table 1) and, if per-seed (.pth, "
                     "NATS folder), gives Fig. 1 standalone ranks; auto = the data root's table. A .pth is fully "
                     "unpickled (it can run code: only the official file)."
            ),
            budget: list[Path] = typer.Option([], "--budget",
                                              help="Another results directory whose SPOS runs join the "
                                                   "tau-against-budget figure (repeatable).")) -> None:
    """Make the SE-NAS figures (Figs. 1, 6, 7, 8, their like-for-like variants, quick looks), Tables 1
    and 3 and the like-for-like table from a results directory, and OUT/README.md showing them all with
    the scale, the seeds and this command."""
    from analysis.overview import write_overview
    from analysis.results import load_results, resolve_groundtruth

    inputs.output_folder(out)
    results = load_results(results_dir)
    gt = resolve_groundtruth(groundtruth)
    command = ["nasbench", "figures", str(results_dir), "--out", str(out),
               *(["--gt", groundtruth] if groundtruth != "auto" else []),
               *(arg for b in budget for arg in ("--budget", str(b)))]
    for path in write_overview(results, out, shlex.join(command), FIGURES_HOW, gt,
                               budget=[load_results(b) for b in budget]):
        typer.echo(f"wrote {path}")
# ----------------------------------------------------------------------------------------- /figures


# ---------------------------------------------------------------------------------------------- perf
# (`nasbench perf`; the measurement lives in benchmark/perf.py)
@app.command("perf")
def perf(device: str = typer.Option("auto", help="auto | cpu | cuda"),
         batch_size: int = typer.Option(256, help="Training batch (paper: 256; less on CPU)."),
         channels: int = typer.Option(16, "--channels", help="Supernet C (NB201: 16)."),
         cells: int = typer.Option(5, "--cells", help="Supernet N, cells per stage (NB201: 5)."),
         repeats: int = typer.Option(5, help="Timed repeats per contender (median and IQR over them)."),
         warmup: int = typer.Option(1, help="Untimed repeats first."),
         steps: int = typer.Option(10, help="Training steps per repeat."),
         eval_archs: int = typer.Option(16, help="Architectures evaluated per repeat."),
         val_images: int = typer.Option(1000, help="Validation images per architecture."),
         recal_batches: int = typer.Option(2, help="BatchNorm recalibration batches per architecture."),
         eval_group: Optional[int] = typer.Option(None, help="Architectures per launch."),
         seed: int = typer.Option(0, help="Seed of the synthetic images, paths and architectures."),
         threads: Optional[int] = typer.Option(None, help="torch CPU threads (default: torch's)."),
         compile_ops: bool = typer.Option(False, "--compile",
                                          help="Also time the fast path with each operation torch.compile'd."),
         out: Optional[Path] = typer.Option(None, help="Also write the JSON report to this file."),
         as_json: bool = typer.Option(False, "--json", help="Print the JSON report.")) -> None:
    """Training and evaluation throughput: this toolkit (fast path, eager) against xautodl, side by side."""
    from benchmark.io import write_json
    from benchmark.perf import PerfConfig, format_report, run_perf

    cfg = PerfConfig(device=device, batch_size=batch_size, C=channels, N=cells, repeats=repeats,
                     warmup=warmup, steps=steps, eval_archs=eval_archs, val_images=val_images,
                     eval_batch_size=min(val_images, 1000), recal_batches=recal_batches,
                     eval_group=eval_group, seed=seed, threads=threads, compile=compile_ops)
    report = run_perf(cfg, log=lambda s: typer.echo(s, err=True))
    if out is not None:
        write_json(out, report)
    typer.echo(json.dumps(report, indent=2) if as_json else "\n".join(format_report(report)))


@app.command("perf-suite")
def perf_suite(out: Path = typer.Option(..., help="Folder for suite.json, summary.md, perf.txt, the run."),
               device: str = typer.Option("cuda", help="cuda (the measurement) | cpu (with --smoke)"),
               smoke: bool = typer.Option(False, "--smoke", help="Shrink every step: checks the plumbing only."),
               eval_budget: float = typer.Option(90.0, help="Seconds for evaluating architectures."),
               senas_budget: float = typer.Option(240.0, help="Seconds allowed for the paper SE-NAS run."),
               only: Optional[str] = typer.Option(None, help="Comma-separated steps: perf,eval_space,senas_paper,mobilenet."),
               data_root: Optional[str] = DATA_ROOT,
               groundtruth: Optional[str] = GT_OPTION
               ) -> None:
    """Every GPU speed target (docs/performance.md) in one command (perf, full-space evaluation, paper SE-NAS run, MobileNet)."""
    from benchmark.perf_suite import SuiteConfig, run_suite, summary_table

    cfg = SuiteConfig(out=out, device=device, smoke=smoke, eval_budget_s=eval_budget,
                      senas_budget_s=senas_budget, data_root=data_root, groundtruth=groundtruth,
                      only=tuple(s.strip() for s in only.split(",")) if only else ())
    suite = run_suite(cfg, log=lambda s: typer.echo(s, err=True))
    typer.echo("\n".join(summary_table(suite)))
# ------------------------------------------------------------------------------------------ end perf


# ---------------------------------------------------------------------------------------------- sweep
# (`nasbench sweep` and `nasbench train-standalone`; the harness lives in benchmark/harness/)
@app.command("sweep")
def sweep_cmd(config: Path = typer.Argument(..., help="Sweep config, YAML or TOML (see docs/sweeps.md)."),
              out: Optional[Path] = typer.Option(None, "--out", help="Results directory (default results/<name>)."),
              executor: str = typer.Option("local", help="local | ray"),
              workers: int = typer.Option(1, help="Worker processes for --executor local (one GPU each)."),
              address: Optional[str] = typer.Option(
                  None, "--ray-address", help="Ray cluster to join with --executor ray: auto (this node's), "
                  "HEAD:6379 or ray://HEAD:10001; without it a local cluster is started."),
              ray_retries: int = typer.Option(3, "--ray-retries", help="Times Ray reruns a run whose worker "
                                              "died (it resumes from its last checkpoint)."),
              device: Optional[str] = typer.Option(None, help="Override the config's device: auto | cpu | cuda."),
              dry_run: bool = typer.Option(False, "--dry-run", help="List the runs and their status; run nothing."),
              data_root: Optional[str] = DATA_ROOT) -> None:
    """Run every method x criterion x dataset x seed x preset of CONFIG not finished yet in the results dir."""
    from rich.console import Console

    from benchmark.cpu_estimate import paper_on_cpu, sweep_workloads
    from benchmark.harness.config import load_config
    from benchmark.harness.sweep import dry_run as plan_only
    from benchmark.harness.sweep import sweep

    cfg = load_config(config, device=device, data_root=data_root)
    results = out or Path("results") / cfg.name
    if dry_run:
        plan_only(cfg, results, Console())
        return
    inputs.output_folder(results)
    if "paper" in cfg.presets and executor == "local":  # a GPU setting: say how long it takes on a CPU first
        paper = cfg.oneshot_presets.get("paper") or cfg.standalone_presets["paper"]
        _warn(paper_on_cpu(cfg.runtime.device, paper.C, paper.N, 1, lambda: sweep_workloads(cfg, results)))
    report = sweep(cfg, results, executor=executor, workers=workers, address=address,
                   ray_retries=ray_retries)
    typer.echo(f"{report.ran} run(s) now, {report.skipped} finished before, {len(report.failed)} failed; "
               f"index: {results / 'index.parquet'}")
    if report.failed:
        typer.echo(f"failed: {', '.join(report.failed)} (see {results}/runs/<run_id>/error.json)", err=True)
        raise typer.Exit(1)


@app.command("train-standalone")
def train_standalone(arch: str = typer.Argument(..., help="An NB201 string or an official index 0..15624."),
                     dataset: str = typer.Option("cifar10", help="cifar10 | cifar100 | imagenet16-120"),
                     seed: int = typer.Option(0, help="Training seed (initialisation, batch order, augmentation)."),
                     preset: str = typer.Option("tiny", help="tiny (CPU, minutes) | paper (NB201: 200 epochs)"),
                     out: Path = typer.Option(..., help="Run directory (resumes if it holds an unfinished run)."),
                     device: str = typer.Option("auto", help="auto | cpu | cuda"),
                     overrides: list[str] = SET,
                     data_root: Optional[str] = DATA_ROOT,
                     groundtruth: Optional[str] = GT_OPTION,
                     threads: int = THREADS,
                     overwrite: bool = OVERWRITE,
                     quiet: bool = typer.Option(False, "--quiet", help="No progress bars or lines."),
                     as_json: bool = AS_JSON) -> None:
    """Train one NB201 architecture from scratch (NB201 protocol); print its valid and test accuracy."""
    from benchmark.cpu_estimate import paper_on_cpu, standalone_workload
    from benchmark.paths import data_root as resolve_root
    from benchmark.spaces.nb201 import load_index
    from benchmark.standalone import StandaloneConfig, StandaloneRun, get_standalone_preset

    inputs.check_run(out, device, seed, () if overwrite else inputs.STANDALONE_RESULT)
    if (index := inputs.index_argument(arch)) is not None:
        arch = load_index(resolve_root(data_root)).to_string(index)
    cfg = StandaloneConfig(arch=arch, dataset=dataset, seed=seed, device=device, data_root=data_root,
                           groundtruth=groundtruth, threads=threads,
                           preset=get_standalone_preset(preset, parse_overrides(overrides)))
    if cfg.preset.name == "paper":  # NB201's 200 epochs, a GPU setting: say how long it takes on a CPU first
        _warn(paper_on_cpu(device, cfg.preset.C, cfg.preset.N, threads,
                           lambda: [standalone_workload(cfg.preset, dataset)], instead="--preset tiny"))
    log = (lambda s: typer.echo(s, err=True)) if not as_json else (lambda s: None)
    result = StandaloneRun(cfg, out, progress=not quiet, log=log, overwrite=overwrite).run()
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    typer.echo(f"standalone {result['arch']} on {result['dataset']} (seed {result['seed']}): valid "
               f"{result['val_acc']:.2f}%, test {result['test_acc']:.2f}% after {result['epochs']} epochs "
               f"[{result['scale']}]")
# ------------------------------------------------------------------------------------------ end sweep


def main() -> None:
    """Entry point: run the app; a NasBenchError becomes ``error: ...`` on stderr and exit code 2; Ctrl-C
    one line with the command that resumes, and exit code 130."""
    from benchmark.interrupt import EXIT_CODE, Interrupted, ctrl_c_interrupts, resume_line

    try:
        with ctrl_c_interrupts():
            code = run_app(app)
        if code:
            sys.exit(code)
    except NasBenchError as e:
        typer.echo(f"error: {e}", err=True)
        sys.exit(2)
    except (OSError, RuntimeError) as e:  # a full disk is bad input too: one line naming the folder
        if (full := disk_full(e)) is None:
            raise
        typer.echo(f"error: {full}", err=True)
        sys.exit(2)
    except Interrupted:
        typer.echo(resume_line(sys.argv[1:]), err=True)
        sys.exit(EXIT_CODE)


if __name__ == "__main__":
    main()
