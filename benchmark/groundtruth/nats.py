"""NATS-Bench topology search space (tss, the successor of NB201: same 15,625 cells, same index order).

Read through ``nats_bench.create(folder, 'tss', fast_mode=True)`` from an archive folder such as
``NATS-tss-v1_0-3ffb9-simple``: ``meta.pickle.pbz2`` (all architecture strings) plus one
``NNNNNN.pickle.pbz2`` of results per architecture, each with seeds 777/888/999 in the 200-epoch
schedule. A folder may hold only some records (the shared fixture has indices 0, 11 and 284):
the others are then missing from the ground truth. The API caches every record it reads; we keep
only a small summary, so a full pass (``build_table``) stays within memory.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path

from benchmark.errors import NasBenchError
from benchmark.groundtruth.records import ApiGroundTruth, ArchRecord, read_record
from benchmark.plain_pickle import NotPlainData, check_plain_file
from benchmark.spaces.nb201 import parse_arch

META = "meta.pickle.pbz2"
_FIX = "pass a NATS-Bench topology folder such as NATS-tss-v1_0-3ffb9-simple"


def _refuse_non_tss(folder: Path) -> None:
    """One-line error for a NATS size-space (sss) folder or a metadata file without NB201 strings."""
    try:
        first = str(check_plain_file(folder / META)["meta_archs"][0])
    except NotPlainData as e:
        raise NasBenchError(f"{folder / META} is not a NATS-Bench file: {e}", _FIX) from None
    except (OSError, EOFError, pickle.UnpicklingError, KeyError, IndexError, TypeError) as e:
        raise NasBenchError(f"cannot read {folder / META}: {type(e).__name__}", _FIX) from None
    if re.fullmatch(r"\d+(:\d+)+", first) or "-sss-" in f"-{folder.name.lower()}-":
        raise NasBenchError(f"{folder} is a NATS-Bench size-space (sss) folder, not the NB201 topology space",
                            _FIX)
    parse_arch(first)


def load_nats(folder: Path) -> ApiGroundTruth:
    """Ground truth from a NATS-tss archive folder (fast mode: records are read when first queried)."""
    if not (folder / META).is_file():
        raise NasBenchError(f"{folder} is not a NATS-Bench folder: it has no {META}", _FIX)
    _refuse_non_tss(folder)
    import nats_bench  # only here: the compact table path must not need the NATS-Bench package

    api = nats_bench.create(str(folder), "tss", fast_mode=True, verbose=False)
    stems = (p.name.split(".")[0] for p in folder.glob("*.pickle.pbz2"))
    recorded = {int(s) for s in stems if s.isdigit()}

    def fetch(index: int) -> ArchRecord:
        record = folder / f"{index:06d}.pickle.pbz2"
        try:
            check_plain_file(record)  # nats_bench unpickles it next: only plain data may reach it
            full = api.query_meta_info_by_index(index, hp="200")
            less = api.query_meta_info_by_index(index, hp="12") if "12" in api.arch2infos_dict[index] else None
        except NotPlainData as e:
            raise NasBenchError(f"NATS record {record} is not a NATS-Bench record: {e}",
                                "restore it from the NATS-tss-v1_0-3ffb9-simple archive") from None
        except (OSError, EOFError, pickle.UnpicklingError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise NasBenchError(f"NATS record {record} is unreadable ({type(e).__name__}: truncated or damaged)",
                                "restore it from the NATS-tss-v1_0-3ffb9-simple archive, or delete it to leave "
                                "that architecture out") from None
        api.arch2infos_dict.pop(index)  # drop the API's cached copy of the full record
        api.evaluated_indexes.discard(index)
        return read_record(full, less)

    return ApiGroundTruth("nats-tss", str(folder), list(api.meta_archs), recorded, fetch)
