"""The sweep config (YAML or TOML, ``docs/sweeps.md``): schema, validation, expansion into runs.

Everything is checked before anything runs: an unknown key or value is refused with the key's path and
the allowed keys or values; every preset (with its ``set`` overrides) and every method's settings are
validated by the same code a run uses.
"""

from __future__ import annotations

import itertools
import os
import random
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import tomllib
import yaml

from benchmark.errors import NasBenchError
from benchmark.harness.runs import RunSpec, Runtime
from benchmark.identity import oneshot_resolved
from benchmark.inputs import MAX_SEED
from benchmark.settings import typed_overrides

TOP_KEYS = ("name", "methods", "datasets", "seeds", "presets", "criteria", "normalizations", "expand", "space",
            "set", "standalone", "device", "data_root", "groundtruth")  # docs/sweeps.md describes each
STANDALONE_KEYS = ("archs", "sample_archs", "set")
SAMPLE_KEYS = ("n", "seed")
SENAS_KEYS = ("criteria", "normalizations", "expand")
_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
MAX_SEEDS = 10_000  # seeds of one sweep: far above any paper's, far below a sweep that cannot be listed


@contextmanager
def _at(source: str) -> Iterator[None]:
    """Prefix errors raised inside with the config file they concern."""
    try:
        yield
    except NasBenchError as e:
        raise NasBenchError(f"{source}: {e.problem}", e.fix) from None


def _check_keys(mapping: Any, allowed: Any, path: str) -> None:
    where = f" under {path}" if path else ""
    if not isinstance(mapping, dict):
        raise NasBenchError(f"{path or 'the config'} must be a mapping of keys to values",
                            f"allowed keys{where}: {', '.join(allowed)}")
    for key in mapping:
        if key not in allowed:
            full = f"{path}.{key}" if path else str(key)
            raise NasBenchError(f"unknown key {full!r}", f"allowed keys{where}: {', '.join(allowed)}")


def _as_list(value: Any, path: str) -> list[Any]:
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    if not items:
        raise NasBenchError(f"{path} is empty", f"list at least one value under {path}")
    return items


def _choices(raw: dict, key: str, allowed: list[str], default: list[Any] | None) -> tuple[Any, ...]:
    if key not in raw:
        if default is None:
            raise NasBenchError(f"missing key {key!r}",
                                f"add {key}: [...] with values from: {', '.join(allowed)}")
        return tuple(default)
    out = []
    for i, v in enumerate(_as_list(raw[key], key)):
        if not isinstance(v, str) or v not in allowed:
            raise NasBenchError(f"{key}[{i}] = {v!r} is not allowed", f"choose from: {', '.join(allowed)}")
        if v not in out:
            out.append(v)
    return tuple(out)


def _seeds(raw: dict) -> tuple[int, ...]:
    value = raw.get("seeds", [0])
    if isinstance(value, int) and not isinstance(value, bool):
        if not 1 <= value <= MAX_SEEDS:
            raise NasBenchError(f"seeds = {value} is not a number of seeds",
                                f"give N from 1 to {MAX_SEEDS} (seeds 0..N-1) or a list of seeds")
        return tuple(range(value))
    seeds = []
    items = _as_list(value, "seeds")
    if len(items) > MAX_SEEDS:
        raise NasBenchError(f"seeds lists {len(items)} seeds", f"list at most {MAX_SEEDS}")
    for i, s in enumerate(items):
        if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s <= MAX_SEED:
            raise NasBenchError(f"seeds[{i}] = {s!r} is not a seed", "use integers >= 0 and below 2^63")
        if s not in seeds:
            seeds.append(s)
    return tuple(seeds)


def _name(raw: dict, source: str) -> str:
    """The sweep's name: one folder name (``results/<name>``), never a path out of the results folder."""
    name = raw.get("name", Path(source).stem)
    if not isinstance(name, str):
        raise NasBenchError(f"name = {name!r} is not a string", "give the sweep a short text label")
    if name.strip() in ("", ".", "..") or any(c in name for c in "/\\\0") or Path(name).is_absolute():
        raise NasBenchError(f"name = {name!r} is not a folder name (it would write outside results/)",
                            "give the sweep a plain name without slashes, e.g. name: tiny_seeds")
    return name


def _bools(raw: dict, key: str) -> tuple[bool, ...]:
    out = []
    for i, v in enumerate(_as_list(raw.get(key, [True]), key)):
        if not isinstance(v, bool):
            raise NasBenchError(f"{key}[{i}] = {v!r} is not allowed", "choose from: true, false")
        if v not in out:
            out.append(v)
    return tuple(out)


def _optional_str(raw: dict, key: str) -> str | None:
    value = raw.get(key)
    if value is not None and not isinstance(value, str):
        raise NasBenchError(f"{key} = {value!r} is not a string", f"give {key} a path or leave it out")
    return value


def _standalone_archs(section: dict) -> tuple[str, ...]:
    from benchmark.spaces.nb201 import NUM_ARCHS, all_arch_strings, format_arch, parse_arch

    if ("archs" in section) == ("sample_archs" in section):
        raise NasBenchError("standalone needs exactly one of archs and sample_archs",
                            "list standalone.archs: [NB201 strings] or set "
                            "standalone.sample_archs: {n: 30, seed: 0}")
    if "archs" in section:
        archs = []
        for i, a in enumerate(_as_list(section["archs"], "standalone.archs")):
            if not isinstance(a, str):
                raise NasBenchError(f"standalone.archs[{i}] = {a!r} is not an NB201 string",
                                    "write architectures as '|op~0|+|op~0|op~1|+|op~0|op~1|op~2|'")
            try:
                archs.append(format_arch(parse_arch(a)))
            except NasBenchError as e:
                raise NasBenchError(f"standalone.archs[{i}]: {e.problem}", e.fix) from None
        return tuple(dict.fromkeys(archs))
    sample = section["sample_archs"]
    _check_keys(sample, SAMPLE_KEYS, "standalone.sample_archs")
    n, seed = sample.get("n"), sample.get("seed", 0)
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= NUM_ARCHS:
        raise NasBenchError(f"standalone.sample_archs.n = {n!r} is not allowed",
                            f"give an integer 1..{NUM_ARCHS}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise NasBenchError(f"standalone.sample_archs.seed = {seed!r} is not allowed", "give an integer")
    return tuple(random.Random(seed).sample(all_arch_strings(), n))


@dataclass(frozen=True)
class SweepConfig:
    """A validated sweep: the axes of the cross product, the built presets and the runtime."""

    name: str
    methods: tuple[str, ...]
    datasets: tuple[str, ...]
    seeds: tuple[int, ...]
    presets: tuple[str, ...]
    criteria: tuple[str, ...]
    normalizations: tuple[str, ...]
    expand: tuple[bool, ...]
    space: str
    oneshot_presets: dict[str, Any] = field(default_factory=dict)
    standalone_presets: dict[str, Any] = field(default_factory=dict)
    archs: tuple[str, ...] = ()
    runtime: Runtime = Runtime()
    source: str = "<config>"

    def normalizations_of(self, criterion: str) -> tuple[str, ...]:
        """The Eq. 7 normalisations swept for ``criterion``: all listed for one that normalises, the default
        (recorded, without effect) for the others."""
        from benchmark.criteria import takes_normalization
        from benchmark.vocabulary import DEFAULT_NORMALIZATION

        return tuple(self.normalizations) if takes_normalization(criterion) else (DEFAULT_NORMALIZATION,)

    def runs(self) -> list[RunSpec]:
        """The cross product, in order preset > seed > dataset > method > (criterion, normalization,
        expand) or architecture, without duplicates; each one-shot run's settings pass its method's
        ``validate()``."""
        from benchmark.methods.base import RunConfig
        from benchmark.methods.registry import METHODS
        from benchmark.standalone import METHOD, StandaloneConfig

        specs: dict[str, RunSpec] = {}
        for preset, seed, dataset, method in itertools.product(self.presets, self.seeds, self.datasets,
                                                               self.methods):
            if method == METHOD:
                for arch in self.archs:
                    cfg = StandaloneConfig(arch=arch, dataset=dataset, preset=self.standalone_presets[preset],
                                           seed=seed)
                    spec = RunSpec.of(cfg.identity())
                    specs.setdefault(spec.run_id, spec)
                continue
            variants = [(None, None, None)] if method != "senas" else [
                (criterion, normalization, expand) for criterion in self.criteria
                for normalization in self.normalizations_of(criterion) for expand in self.expand]
            for criterion, normalization, expand in variants:
                extra = {} if criterion is None else {"criterion": criterion, "normalization": normalization,
                                                      "expand": expand}
                cfg = RunConfig(method=method, dataset=dataset, preset=self.oneshot_presets[preset],
                                seed=seed, space=self.space, **extra)
                with _at(f"{self.source} ({method}, preset {preset})"):
                    METHODS.get(method).oneshot(cfg, Path(os.devnull), progress=False, log=lambda s: None).validate()
                spec = RunSpec.of(oneshot_resolved(cfg))
                specs.setdefault(spec.run_id, spec)
        return list(specs.values())


def parse_config(raw: Any, source: str = "<config>") -> SweepConfig:
    """Validate a parsed config (a dict) and build its presets; see ``docs/sweeps.md`` for the schema."""
    from benchmark.criteria import CRITERIA
    from benchmark.methods.base import NUM_CLASSES
    from benchmark.methods.registry import oneshot_methods
    from benchmark.presets import PRESETS, Preset, get_preset
    from benchmark.spaces import SPACES
    from benchmark.standalone import METHOD, STANDALONE_PRESETS, StandalonePreset, get_standalone_preset
    from benchmark.vocabulary import NORMALIZATIONS

    with _at(source):
        _check_keys(raw, TOP_KEYS, "")
        methods = _choices(raw, "methods", oneshot_methods() + [METHOD], None)
        oneshot = [m for m in methods if m != METHOD]
        for key in SENAS_KEYS:
            if key in raw and "senas" not in methods:
                raise NasBenchError(f"{key} applies to senas runs only, and methods has no senas",
                                    f"add senas to methods or remove {key}")
        if "set" in raw and not oneshot:
            raise NasBenchError("set applies to one-shot runs only, and methods has none",
                                "put standalone settings under standalone.set")
        if ("standalone" in raw) != (METHOD in methods):
            problem = "methods lists standalone but there is no standalone section" if METHOD in methods \
                else "a standalone section is given but methods has no standalone"
            raise NasBenchError(problem, "list standalone in methods together with a standalone: "
                                         "{archs: [...]} or {sample_archs: {n: 30, seed: 0}} section")
        name = _name(raw, source)
        device = raw.get("device", "auto")
        if not isinstance(device, str) or not _DEVICE.match(device):
            raise NasBenchError(f"device = {device!r} is not allowed", "choose from: auto, cpu, cuda, cuda:N")
        space = raw.get("space", "nb201")
        if space not in SPACES:
            raise NasBenchError(f"space = {space!r} is not allowed",
                                f"choose from: {', '.join(SPACES.names())}")
        presets = _choices(raw, "presets", sorted(set(PRESETS) | set(STANDALONE_PRESETS)), ["tiny"])
        cfg_kwargs: dict[str, Any] = {}
        if oneshot:
            overrides = typed_overrides(Preset, _mapping(raw, "set"), "set")
            built = {}
            for p in presets:
                with _at(f"presets: {p}" + (" with set" if overrides else "")):
                    built[p] = get_preset(p, overrides)
            cfg_kwargs["oneshot_presets"] = built
        if METHOD in methods:
            section = raw["standalone"]
            _check_keys(section, STANDALONE_KEYS, "standalone")
            overrides = _mapping(section, "set", "standalone.set")
            built = {}
            for p in presets:
                with _at(f"standalone preset {p}" + (" with standalone.set" if overrides else "")):
                    built[p] = get_standalone_preset(p, typed_overrides(StandalonePreset, overrides,
                                                                        "standalone.set"))
            cfg_kwargs["standalone_presets"] = built
            cfg_kwargs["archs"] = _standalone_archs(section)
        return SweepConfig(
            name=name, methods=methods,
            datasets=_choices(raw, "datasets", list(NUM_CLASSES), ["cifar10"]),
            seeds=_seeds(raw),
            presets=presets,
            criteria=_choices(raw, "criteria", CRITERIA.names(), ["senas"]),
            normalizations=_choices(raw, "normalizations", list(NORMALIZATIONS), ["mean"]),
            expand=_bools(raw, "expand"),
            space=space,
            runtime=Runtime(device=device, data_root=_optional_str(raw, "data_root"),
                            groundtruth=_optional_str(raw, "groundtruth")),
            source=source, **cfg_kwargs)


def _mapping(raw: dict, key: str, path: str | None = None) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise NasBenchError(f"{path or key} must be a mapping of settings to values",
                            "write e.g. set: {C: 4}")
    return value


def read_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """Parse a ``.yaml``/``.yml`` or ``.toml`` file into a dict (one-line error if unreadable)."""
    path = Path(path)
    if not path.is_file():
        raise NasBenchError(f"sweep config {path} not found",
                            "pass a YAML or TOML file, e.g. benchmark/configs/tiny.yaml")
    suffix = path.suffix.lower()
    try:
        if suffix in (".yaml", ".yml"):
            raw = yaml.safe_load(path.read_text())
        elif suffix == ".toml":
            raw = tomllib.loads(path.read_text())
        else:
            raise NasBenchError(f"sweep config {path} is neither YAML nor TOML",
                                "name it *.yaml, *.yml or *.toml")
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise NasBenchError(f"sweep config {path} does not parse: {first}", "fix the file's syntax") from None
    return {} if raw is None else raw


def load_config(path: str | os.PathLike, device: str | None = None,
                data_root: str | None = None) -> SweepConfig:
    """Read and validate a sweep config; ``device``/``data_root`` override the file's. The methods'
    own checks run when the config is expanded (:meth:`SweepConfig.runs`)."""
    raw = read_config_file(path)
    if isinstance(raw, dict):
        given = {"device": device, "data_root": data_root}
        raw = {**raw, **{k: v for k, v in given.items() if v}}
    return parse_config(raw, str(path))
