#!/usr/bin/env python3
"""Prints every benchmark of one brook_bench JSON output and the ratios brook is judged on.

    nice ./build/release/benchmarks/brook_bench --benchmark_min_time=0.2 \
        --benchmark_out=bench.json --benchmark_out_format=json
    python3 benchmarks/ratios.py bench.json

Ratios only mean something between figures of the same run (docs/benchmarks.md).
"""

import json
import sys


def main(path):
    with open(path) as f:
        runs = {b["name"]: b for b in json.load(f)["benchmarks"]
                if b.get("run_type") != "aggregate"}

    def get(name, field):
        b = runs.get(name)
        return None if b is None else b.get(field)

    print("| benchmark | time | items/s | bytes/s | other counters |")
    print("|---|---:|---:|---:|---|")
    skip = {"name", "family_index", "per_family_instance_index", "run_name", "run_type",
            "repetitions", "repetition_index", "threads", "iterations", "real_time", "cpu_time",
            "time_unit", "items_per_second", "bytes_per_second", "error_occurred",
            "error_message"}
    for name, b in runs.items():
        items = b.get("items_per_second")
        bytes_ = b.get("bytes_per_second")
        other = ", ".join(f"{k}={v:.4g}" for k, v in b.items()
                          if k not in skip and isinstance(v, (int, float)))
        if b.get("error_occurred"):
            other = "ERROR: " + b.get("error_message", "")
        print(f"| {name} | {b['real_time']:.4g} {b['time_unit']} | "
              f"{'' if items is None else f'{items / 1e6:.3f} M'} | "
              f"{'' if bytes_ is None else f'{bytes_ / 1e9:.3f} GB/s'} | {other} |")
    print()

    def ratio(label, value, target, higher_is_better=True, unit=""):
        if value is None:
            print(f"| {label} | n/a | {target} | not measured |")
            return
        met = value >= target if higher_is_better else value <= target
        by = value / target if higher_is_better else target / value
        verdict = "met" if met else "missed"
        wanted = f"{'>=' if higher_is_better else '<='} {target:g}{unit}"
        verdict += f" (score {by:.2f}, 1 = on target)"
        print(f"| {label} | {value:.3g}{unit} | {wanted} | {verdict} |")

    def div(a, b):
        return None if a is None or b is None or b == 0 else a / b

    print("| target | measured | wanted | verdict |")
    print("|---|---:|---:|---|")
    append_bytes = get("BM_LogAppend/100/1000", "bytes_per_second")
    append_items = get("BM_LogAppend/100/1000", "items_per_second")
    raw = [v for v in (get("BM_RawWrite", "bytes_per_second"),
                       get("BM_RawMmapCopy", "bytes_per_second")) if v is not None]
    append = "BM_LogAppend/100/1000"
    append_bytes = get(append, "bytes_per_second")
    append_items = get(append, "items_per_second")
    raw = [v for v in (get("BM_RawWrite", "bytes_per_second"),
                       get("BM_RawMmapCopy", "bytes_per_second")) if v is not None]
    ratio("append 100 B x1000, bytes/s / max(RawWrite, RawMmapCopy)",
          div(append_bytes, max(raw) if raw else None), 0.5)
    ratio("append 100 B x1000, records/s / SQLite",
          div(append_items, get("BM_SqliteAppend/100", "items_per_second")), 10)
    ratio("append 100 B x1000, records/s / RocksDB",
          div(append_items, get("BM_RocksDbAppend/100", "items_per_second")), 10)
    scan = get("BM_LogScan/100", "items_per_second")
    ratio("scan 100 B with CRC, M records/s", None if scan is None else scan / 1e6, 30)
    latency = "BM_AppendToReaderLatency/"
    ratio("append->reader p50, blocking (/0)", get(latency + "0", "p50_us"), 5, False, " us")
    ratio("append->reader p99, blocking (/0)", get(latency + "0", "p99_us"), 30, False, " us")
    ratio("append->reader p50, wait_spin 50 us (/1)", get(latency + "1", "p50_us"), 1, False,
          " us")
    ratio("append->reader p50, wait_spin 200 us (/2)", get(latency + "2", "p50_us"), 1, False,
          " us")
    raw_sync = get("BM_RawFdatasync", "items_per_second")
    ratio("durable append, 1 thread / RawFdatasync",
          div(get("BM_DurableAppend/1", "items_per_second"), raw_sync), 0.9)
    ratio("durable append, 8 threads / RawFdatasync",
          div(get("BM_DurableAppend/8", "items_per_second"), raw_sync), 4)
    for args in ("100/1", "100/10", "100/1000", "1024/1000"):
        # Overhead of idempotence: the same loop with and without producer fields (a slowdown of
        # at most 5% means a ratio of at least 0.95).
        ratio(f"idempotent append {args}, records/s / same loop without producer id",
              div(get(f"BM_IdempotentAppend/{args}", "items_per_second"),
                  get(f"BM_IdempotentAppendBaseline/{args}", "items_per_second")), 0.95)
    compaction = "BM_Compaction/iterations:2"
    cleaned = get(compaction, "bytes_per_second")
    ratio("compaction 10M records / 1M keys, MB/s cleaned",
          None if cleaned is None else cleaned / 1e6, 500, unit=" MB/s")
    ratio("compaction offset map, bytes per distinct key", get(compaction, "map_bytes_per_key"),
          32, False, " B")
    # Issue 4: broker, producer, consumer (benchmarks/broker_bench.cc).
    ratio("produce->consume, 1 partition, records/s / LogAppend 100 B x1000",
          div(get("BM_ProduceConsume/1", "items_per_second"), append_items), 0.70)
    ratio("the same through SendBatch, 1000 records a call",
          div(get("BM_ProduceConsumeBatch/1000", "items_per_second"), append_items), 0.70)
    for spin in ("0", "200"):
        name = f"BM_ProduceConsumeLatency/{spin}"
        ratio(f"produce->consume p99 at 10k/s, poll_spin {spin} us", get(name, "p99_us"), 50,
              False, " us")
        ratio(f"produce->consume p50 at 10k/s, poll_spin {spin} us (no goal; 50 us shown)",
              get(name, "p50_us"), 50, False, " us")
    many_open = "BM_ManyPartitions/open"
    partitions = get(many_open, "partitions")
    if partitions is not None and partitions < 10000:
        print(f"| (BM_ManyPartitions ran with {partitions:g} partitions: the open-file limit is "
              "too low for 10,000; the 10k figures are linear estimates) | | | |")
        ratio("open a 10k-partition broker (estimate)", get(many_open, "open_ms_10k_est"), 1000,
              False, " ms")
    else:
        ratio("open a 10k-partition broker", get(many_open, "open_ms"), 1000, False, " ms")
    spread = get("BM_ManyPartitions/append_spread", "items_per_second")
    ratio("append round-robin over many partitions / the same to one partition",
          div(spread, get("BM_ManyPartitions/append_one", "items_per_second")), 0.8)
    ratio("append round-robin over many partitions / one partition, 64-MiB segments",
          div(spread, get("BM_ManyPartitions/append_one_large_segments", "items_per_second")),
          0.8)
    for assignor in ("range", "cooperative_sticky"):
        ratio(f"rebalance of 100+1 members, 1000 partitions, {assignor} (no goal; 100 ms shown)",
              get(f"BM_Rebalance/{assignor}", "rebalance_ms"), 100, False, " ms")
    clean = runs.get("BM_Recovery/clean")
    if clean is not None:
        scale = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}[clean["time_unit"]]
        ratio("reopen 1000 clean segments, mean", clean["real_time"] * scale, 100, False, " ms")
        ratio("reopen 1000 clean segments, slowest", clean.get("max_ms"), 100, False, " ms")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "bench.json")
