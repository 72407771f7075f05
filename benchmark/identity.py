"""A run's identity: its *resolved config* and the run id hashed from it.

A run is identified by its resolved config (``config.json`` in its directory): for one-shot methods
``RunConfig.identity()`` (method, dataset, the full preset, seed, space and, for senas only, criterion,
normalization and expand); for ``standalone`` the architecture, dataset, seed and full standalone preset;
for the DARTS search its own identity. Its id is the first 12 hex digits of the SHA-256 of that dict as
canonical JSON (sorted keys, no spaces), so the same config always lands in the same directory; paths and
the device are not part of it. A folder that holds another configuration's run is refused with the
settings that differ (:func:`other_config_error`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from benchmark.errors import NasBenchError

SENAS_ONLY = ("criterion", "normalization", "expand")


def run_id(resolved: dict[str, Any]) -> str:
    """12 hex digits of SHA-256 over the canonical JSON of the resolved config (stable across machines)."""
    text = json.dumps(resolved, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def describe_config(r: dict[str, Any]) -> str:
    """A short human label of a resolved config (or a run's identity), e.g. ``senas[random] cifar10 seed 1
    (tiny)``; missing fields are left out (the DARTS search names no method or dataset)."""
    what = str(r.get("method", "search"))
    if "criterion" in r:
        extras = [str(r["criterion"])] + ([] if r.get("normalization", "mean") == "mean" else
                                          [str(r["normalization"])]) + ([] if r.get("expand", True) else ["no expand"])
        what += f"[{', '.join(extras)}]"
    if "arch" in r:
        what += f" {r['arch']}"
    preset = r.get("preset")
    name = preset.get("name") if isinstance(preset, dict) else None
    return " ".join([what, *([str(r["dataset"])] if "dataset" in r else []), f"seed {r.get('seed')}",
                     *([f"({name})"] if name else [])])


def resolved_from_identity(identity: dict[str, Any]) -> dict[str, Any]:
    """An identity as a resolved config: without the SE-NAS-only fields for other one-shot methods (they
    do not apply there), as JSON reads it back (lists, not tuples)."""
    resolved = json.loads(json.dumps(identity))
    if resolved.get("method") not in ("senas", "standalone", None):
        for key in SENAS_ONLY:
            resolved.pop(key, None)
    return resolved


def oneshot_resolved(cfg: Any) -> dict[str, Any]:
    """The resolved config of a one-shot ``RunConfig``: its identity, without the SE-NAS-only fields for
    other methods (they do not apply there)."""
    resolved = cfg.identity()
    if resolved["method"] != "senas":
        for key in SENAS_ONLY:
            resolved.pop(key, None)
    return resolved


def resolved_of(cfg: Any) -> dict[str, Any]:
    """The resolved config of any run's config (one-shot, standalone, DARTS search): the dict a sweep
    stores as ``config.json`` and :func:`run_id` hashes."""
    return resolved_from_identity(cfg.identity())


def _flat(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix or "config": d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def config_differences(theirs: Any, mine: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """``(key, theirs, mine)`` for every setting that differs (nested keys dotted: ``preset.lr``)."""
    a, b = _flat(theirs), _flat(mine)
    return [(k, a.get(k), b.get(k)) for k in sorted(a.keys() | b.keys()) if a.get(k) != b.get(k)]


def other_config_error(where: Path, theirs: Any, mine: dict[str, Any], fix: str) -> NasBenchError:
    """The one-line refusal of a folder that holds another configuration's run: both configurations (short
    descriptions and run ids) and the settings that differ; a thread count of its own (it changes results)."""
    diff = config_differences(theirs, mine)
    if [k for k, _, _ in diff] == ["threads"]:
        _, t, m = diff[0]
        return NasBenchError(f"{where} holds a run computed with threads={t}; this one asks for threads={m} "
                             "(the CPU thread count changes the result, so it is part of the configuration)",
                             f"resume it with --threads {t} (or `threads: {t}`); {fix}")
    shown = ", ".join(f"{k}: {t!r} there, {m!r} here" for k, t, m in diff[:3]) + \
        (f" and {len(diff) - 3} more" if len(diff) > 3 else "")
    there = describe_config(theirs) if isinstance(theirs, dict) else "unreadable"
    id_there = run_id(theirs) if isinstance(theirs, dict) else "?"
    return NasBenchError(f"{where} belongs to a different configuration: it holds {there} (run id {id_there}), "
                         f"not {describe_config(mine)} (run id {run_id(mine)}); they differ in {shown}", fix)
