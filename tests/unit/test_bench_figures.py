"""The pure logic behind the benchmark figures: paired ratios compare like with like, byte
units say what they are, "shared machine" only when it was, fair llama.cpp settings."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from benchmarks.common import fmt_bytes, in_unit, paired_ratio, paired_row


def test_paired_ratio_is_the_median_of_per_pair_ratios_not_a_ratio_of_medians():
    ours, base = [1.0, 10.0, 10.0], [2.0, 5.0, 40.0]
    # per pair: 0.5, 2.0, 0.25 -> median 0.5; medians alone would give 10 / 5 = 2.0
    assert paired_ratio(ours, base) == pytest.approx(0.5)


def test_paired_row_shows_medians_and_the_paired_ratio():
    row = paired_row("ttft", [1.0, 10.0, 10.0], [2.0, 5.0, 40.0])
    assert row["ours"] == "10.00 s" and row["baseline"] == "5.00 s"
    assert row["ratio"] == 0.5 and row["target"] == "" and row["met"] is None
    assert paired_row("rss", [1.25], [2.0], "MiB", digits=1)["ours"] == "1.2 MiB"


def _latencies(kinds=("flat", "hnsw")) -> dict[str, list[float]]:
    """Three queries; raw flat is slow (exact), raw HNSW fast: a like-for-like ratio must
    divide HNSW by HNSW."""
    lat = {"embed ours": [10.0, 11.0, 12.0], "embed raw": [10.0, 10.0, 10.0]}
    raw = {"flat": [12.0, 12.0, 12.0], "hnsw": [0.5, 0.4, 0.6]}
    for kind in kinds:
        lat[f"{kind} raw"] = raw[kind]
        lat[f"{kind} ours dense"] = [x * 1.2 for x in raw[kind]]
        lat[f"{kind} ours hybrid"] = [x + 1.0 for x in raw[kind]]
        lat[f"{kind} raw from text"] = [x + 10.0 for x in raw[kind]]
        lat[f"{kind} ours hybrid from text"] = [x + 11.0 for x in raw[kind]]
    return lat


def test_each_index_type_is_compared_with_raw_faiss_of_the_same_type():
    from benchmarks.retrieval_app import paired_ratios

    ratios = paired_ratios(_latencies(), ["flat", "hnsw"])
    assert ratios["hnsw dense"] == pytest.approx(1.2)
    assert ratios["flat dense"] == pytest.approx(1.2)
    assert ratios["hnsw hybrid"] == pytest.approx(3.0)  # median of 1.5/0.5, 1.4/0.4, 1.6/0.6
    assert ratios["embed"] == pytest.approx(1.1)


def _app(lat: dict[str, list[float]], auto: str = "hnsw", n: int = 100_000) -> dict:
    from benchmarks.common import pct
    from benchmarks.retrieval_app import paired_ratios

    kinds = ["flat", "hnsw"]
    entry = {"build_s": 1.0, "bytes_per_chunk": 3000.0, "load_rss_bytes": 2**20 * 300,
             "dense_recall_at_10": 1.0}  # fmt: skip
    return {
        "n": n,
        "auto": auto,
        "types": {
            "flat": {**entry, "params": {}},
            "hnsw": {**entry, "params": {"M": 32, "efConstruction": 80, "efSearch": 256}},
        },
        "latency": {k: {"p50_ms": pct(v, 50), "p95_ms": pct(v, 95)} for k, v in lat.items()},
        "paired": paired_ratios(lat, kinds),
    }


def test_app_rows_name_the_parameters_and_judge_the_target_on_paired_ratios():
    from benchmarks.retrieval_app import app_rows

    lat = _latencies()
    # From text: per query 2.0, 2.0, 1.0 -> paired median 2.0 (target missed), while
    # the ratio of the medians would be 10 / 8 = 1.25 (target met).
    lat["hnsw raw from text"] = [5.0, 8.0, 8.0]
    lat["hnsw ours hybrid from text"] = [10.0, 16.0, 8.0]
    rows = app_rows(_app(lat))
    by_start = {r["figure"].split(":")[0]: r for r in rows}
    hnsw = by_start["retrieval 100k, hnsw M=32 efConstruction=80 efSearch=256"]
    assert hnsw["ratio"] == "1.20× / 3.00×"
    text = next(r for r in rows if "from the question text" in r["figure"])
    assert "hnsw" in text["figure"] and text["ratio"] == pytest.approx(2.0)
    assert text["met"] is False
    assert "300 MiB" in rows[-1]["ours"]


def test_retrieval_scales_from_the_environment(monkeypatch):
    from benchmarks.bench_retrieval import retrieval_scales

    monkeypatch.delenv("BENCH_RETRIEVAL_SCALES", raising=False)
    assert retrieval_scales(SimpleNamespace(quick=False)) == [10_000, 100_000, 1_000_000]
    monkeypatch.setenv("BENCH_RETRIEVAL_SCALES", "100000, 10000")
    assert retrieval_scales(SimpleNamespace(quick=False)) == [10_000, 100_000]
    monkeypatch.setenv("BENCH_RETRIEVAL_SCALES", "10k")
    with pytest.raises(ValueError, match="sizes like 10000,100000"):
        retrieval_scales(SimpleNamespace(quick=False))


def test_byte_units_are_decimal_or_binary_as_named():
    assert fmt_bytes(2**30, "GiB") == "1.00 GiB"
    assert fmt_bytes(2**30, "GB") == "1.07 GB"
    assert fmt_bytes(2.5e9, "GiB") == "2.33 GiB"
    assert in_unit(3 * 2**20, "MiB") == 3.0 and in_unit(3e6, "MB") == 3.0
    with pytest.raises(ValueError, match="unknown byte unit 'gb'"):
        fmt_bytes(1, "gb")


def test_footprint_rows_say_when_the_page_cache_stayed_warm():
    from benchmarks.bench_footprint import RSS_TARGET_BYTES, cold_rows

    assert RSS_TARGET_BYTES == 2.5e9
    rows = cold_rows({"ours_cold": [], "raw_cold": []}, "/proc/sys/vm/drop_caches: denied")
    assert "not measured" in rows[0]["figure"] and "denied" in rows[0]["figure"]
    run = {"seconds": {"ready": 8.0, "first_answer": 20.0}}
    rows = cold_rows({"ours_cold": [run], "raw_cold": [run]}, None)
    assert "page cache dropped" in rows[0]["figure"] and rows[0]["ours"] == "8.00 / 20.00 s"


# -- was the machine shared? ---------------------------------------------------------
def test_busy_cpu_excludes_idle_iowait_and_steal():
    from benchmarks.machine import busy_cpu_seconds

    stat = "cpu  100 20 30 1000 50 5 5 70 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n"
    assert busy_cpu_seconds(stat, 100) == pytest.approx(1.6)  # (100+20+30+5+5) / 100
    with pytest.raises(ValueError):
        busy_cpu_seconds("intr 1 2 3 4 5 6 7 8", 100)


def test_other_work_is_system_cpu_minus_the_benchmarks_own():
    from benchmarks.machine import Snapshot, other_work_cores

    before = Snapshot(wall=0.0, busy_s=100.0, own_s=5.0, load_avg=[1.0, 1.0, 1.0])
    after = Snapshot(wall=10.0, busy_s=125.0, own_s=20.0, load_avg=[2.0, 1.0, 1.0])
    # 25 busy core-seconds in 10 s, 15 of them ours: others used 1 core on average
    assert other_work_cores(before, after) == pytest.approx(1.0)
    alone = Snapshot(wall=10.0, busy_s=115.0, own_s=20.0, load_avg=[1.5, 1.0, 1.0])
    assert other_work_cores(before, alone) == 0.0


def _result(name: str, load: dict | None) -> dict:
    machine = {"cpu": "Xeon", "cores": 2, "memory_gib": 7.8, "platform": "linux",
               "python": "3.11", "commit": "abc1234",
               "versions": dict.fromkeys(("faiss", "llama_cpp", "torch",
                                          "sentence_transformers", "bm25s"), "1")}  # fmt: skip
    res = {"started": "2026-11-30 10:00:00", "seconds": 60.0, "machine": machine, "rows": []}
    if load is None:  # an older result: load at start and end, in the child
        res["machine"]["load_avg"] = [1.5, 1.0, 1.0]
        res["load_avg_end"] = [1.6, 1.0, 1.0]
    else:
        res["load"] = load
    return res


def _load(other: float) -> dict:
    return {"load_avg_before": [0.4, 0, 0], "load_avg_after": [1.2, 0, 0],
            "other_work_cores": other, "shared_threshold_cores": 0.2}  # fmt: skip


def test_header_says_shared_only_for_benchmarks_that_were():
    from benchmarks.run import header

    quiet = header({"retrieval": _result("retrieval", _load(0.05))}, "cmd")
    assert "was shared" not in quiet and "less than 0.2 cores" in quiet
    assert "retrieval 0.4→1.2" in quiet and "7.8 GiB RAM" in quiet
    busy = header(
        {"retrieval": _result("retrieval", _load(0.05)), "e2e": _result("e2e", _load(1.3))},
        "cmd",
    )
    assert "the machine was shared with other work during e2e (1.3 cores)" in busy
    old = header({"ingest": _result("ingest", None)}, "cmd")
    assert "ingest 1.5→1.6" in old and "other work was not measured" in old
    assert "was shared" not in old


def test_header_names_each_machine_when_results_come_from_two():
    from benchmarks.run import header

    a, b = _result("ingest", _load(0.0)), _result("e2e", _load(0.0))
    b["machine"]["cpu"] = "AMD EPYC"
    text = header({"ingest": a, "e2e": b}, "cmd")
    assert "ingest on Xeon" in text and "e2e on AMD EPYC" in text


# -- the end-to-end benchmark's fairness -------------------------------------------------
QWEN = {"general.architecture": "qwen2", "qwen2.rope.freq_base": "1000000.000000"}


def test_rope_base_comes_from_the_gguf():
    from evals.baseline import gguf_rope_freq_base

    assert gguf_rope_freq_base(QWEN) == 1e6
    assert gguf_rope_freq_base({"general.architecture": "llama"}) == 10000.0
    with pytest.raises(ValueError):
        gguf_rope_freq_base({})


def _context(**changes) -> SimpleNamespace:
    params = dict(n_ctx=4096, n_batch=512, n_ubatch=512, n_threads=1, n_threads_batch=2,
                  rope_freq_base=0.0, rope_freq_scale=0.0)  # fmt: skip
    return SimpleNamespace(**{**params, **changes})


def test_llama_settings_compare_as_they_take_effect():
    from benchmarks.bench_e2e import check_same_settings, effective_llama_params

    ours = effective_llama_params(_context(), QWEN)  # 0 = the GGUF's values
    assert ours["rope_freq_base"] == 1e6 and ours["rope_freq_scale"] == 1.0
    langchain = effective_llama_params(_context(rope_freq_base=1e6, rope_freq_scale=1.0), QWEN)
    check_same_settings(ours, langchain)
    for wrong in ({"rope_freq_base": 10000.0}, {"n_batch": 8}, {"n_threads_batch": 1}):
        other = effective_llama_params(_context(**wrong), QWEN)
        with pytest.raises(RuntimeError, match=next(iter(wrong))):
            check_same_settings(ours, other)


def test_e2e_question_count_is_small_by_default_and_settable(monkeypatch):
    from benchmarks.bench_e2e import questions_count

    monkeypatch.delenv("BENCH_E2E_QUESTIONS", raising=False)
    assert questions_count(SimpleNamespace(quick=False)) == 8
    assert questions_count(SimpleNamespace(quick=True)) == 2
    monkeypatch.setenv("BENCH_E2E_QUESTIONS", "3")
    assert questions_count(SimpleNamespace(quick=False)) == 3
    monkeypatch.setenv("BENCH_E2E_QUESTIONS", "0")
    with pytest.raises(ValueError, match="at least 1"):
        questions_count(SimpleNamespace(quick=False))


@pytest.mark.parametrize(
    "name", ["e2e", "footprint", "generation", "ingest", "ray", "retrieval", "run"]
)
def test_every_benchmark_module_imports(name):
    """A renamed helper in benchmarks/common.py must not leave a benchmark unrunnable
    (bench_ray imported a removed `peak_rss_mb` and failed only when run)."""
    import importlib

    importlib.import_module(f"benchmarks.{'run' if name == 'run' else 'bench_' + name}")
