"""``docs/performance.md``, written from ``bench/results.json`` through one template.

Every figure and every sentence that states a result comes from the results: the template
holds the method and the prose that does not depend on them.
"""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Iterable, Sequence
from string import Template
from typing import Any, Final

from bench import page_pacing
from bench.markdown import table
from bench.overhead import TARGET as OVERHEAD_TARGET
from bench.plots import STRATEGY_LABELS

#: A round trip to a remote API, only to put loopback latencies in proportion.
REMOTE_CALL_MS: Final = 50
#: The store's real budget, to put CPU per request in proportion.
STORE_REQUESTS_PER_S: Final = 150 / 60

TEMPLATE: Final = Template("""\
# Performance

<!-- Written by `make bench` (bench/run.py) from bench/results.json; the template is in
bench/page.py. Edit that, not this file. -->

What the client costs and what it gains, measured by `make bench` against bare aiohttp, against
a competent hand-written client (aiohttp, `aiolimiter.AsyncLimiter` and tenacity honouring
`Retry-After`), and against two straw men that users also write. Every figure and plot on
this page comes from $mode_note of the benchmarks, on $date, written to
`bench/results.json`; a new run rewrites the page.

## Targets

$targets_section

## Machine

$machine_table

Two cores are shared by the client and the server process in the benchmarks that use one, so
figures move a few percent between runs; other work on the machine moves them more (the load
averages above, taken as the run started and ended, count this run's own processes too).
Compare figures within one run.

## Method

All requests are the registration POST (`client.orders.create`, or the same request through
aiohttp). No benchmark sends anything over a network: servers listen on loopback.

- **Overhead.** A minimal aiohttp server (`bench/_server.py`) answers every POST with the
  documented success envelope, in a process of its own, so the CPU time measured in the
  benchmark's process is the client side's alone. The same $overhead_requests requests per
  round go through bare aiohttp (`json.dumps` body, `session.post`, `json.loads` of the
  answer: what a user writes without the library) and through `B2BClient` (pacing off,
  `max_concurrency` equal to the concurrency), from as many workers as the concurrency.
  Rounds alternate, $overhead_rounds of each per concurrency, after a warm-up; the ratio is
  the median of the rounds' client/bare throughput ratios. CPU time is the client process's
  `time.process_time()` per request.
  `python -m bench.overhead --requests $overhead_requests_arg --rounds $overhead_rounds`
  runs one concurrency;
  `python -m bench.calls` counts the Python function calls one request makes, by module, a
  figure the machine's other work does not move.
- **Latency.** The same server, one request at a time: $latency_samples timed calls each,
  in $latency_blocks alternating blocks of bare aiohttp and client calls (each block opens its
  session and warms it up with 20 untimed calls).
  `python -m bench.latency --samples $latency_samples_arg --blocks $latency_blocks`.
- **Budget efficiency.** The sandbox (`b2b_async.sandbox`, served in the benchmark's own
  process: what is measured here is pacing, not CPU) enforces a fixed window of
  $window_requests requests per $window_per s, the store's 150 per minute time-scaled so that
  a run takes seconds. $budget_orders creates are gathered at once (`asyncio.gather`), written
  $budget_ways ways. Through one `B2BClient` with its default pacing for that window
  (`RateLimit($window_requests, $window_per)`) and retry policy.$competent_method Through a
  **straw man** that ignores `Retry-After`: bare aiohttp with tenacity's
  `@retry(retry=retry_if_exception_type(aiohttp.ClientResponseError),
  wait=wait_exponential(multiplier=$naive_multiplier, max=$naive_max),
  stop=stop_after_attempt($naive_attempts))`
  around a POST that calls `raise_for_status()`, so 429 is retried (at the store's scale:
  waits from $naive_multiplier_real s doubling up to $naive_max_real s). And through a second
  straw man, bare aiohttp with no retries. The bare variants use a default
  `aiohttp.ClientSession` and `gather(..., return_exceptions=True)` so that every call ends.
  The server's windows are rebuilt from its request records (a window opens at the first
  request after the previous one closed). **Achieved/allowed** is the requests accepted over
  those the window allowed (less a competitor's share) from the first request to the opening
  of the last window that accepted any: that last window is left out, since it is partly
  empty because the job ran out of orders whatever the pacing, while time between windows,
  when none was open, counts as budget unspent (a run that used one window is measured
  against that one). A **lost** order is one that no request registered.
  `python -m bench.budget --orders $budget_orders`.$pacing_method
- **Bulk scale.** `create_stream` and `create_many` register $bulk_sizes_text orders from a
  generator, at concurrency $bulk_concurrency (the client's default), with no rate limit, against
  `python -m b2b_async sandbox --rate-limit none` in a fresh process per run (the sandbox keeps
  every order and request record; in its own process that memory is not the client's). Each case
  runs $bulk_repeats times for throughput and client CPU, then once more under `tracemalloc` for
  the client's peak memory (tracing slows Python several times over, so that run is not timed).
  `create_stream`'s outcomes are counted and dropped; `create_many`'s report is kept, as its
  caller would keep it.
  Throughput is the fastest of $bulk_repeats runs (other work on the machine only ever slows a run
  down), the range of all runs beside it. `python -m bench.bulk --repeats $bulk_repeats`.

## Overhead: the client against bare aiohttp

$overhead_table

$overhead_text

![Throughput, ratio and client CPU by concurrency](_static/bench/overhead.png)

## Latency of a single create

$latency_table

$latency_text

![Latency by percentile, bare aiohttp and B2BClient, and the difference](_static/bench/latency.png)

## Budget efficiency against the store's window

$budget_table

$budget_text

![Accepted and 429 answers per window, per strategy](_static/bench/budget_windows.png)

![Orders registered over time per strategy](_static/bench/budget_progress.png)

## Against a competent hand-written client

$comparison_section

## Urgent calls during a backfill, one process

$urgent_section

## Urgent calls across processes sharing Redis

$multiprocess_section

## Efficiency with the CPU contended

$contended_section

## Bulk registration at scale

$bulk_table

$bulk_text

![Traced client memory during bulk runs](_static/bench/bulk_memory.png)

![Bulk throughput and peak client memory by input size](_static/bench/bulk_scale.png)

## How cost grows with concurrency and input size

$growth_text

## Running the benchmarks

```console
$$ make bench                        # the full set, 10 to 15 minutes on two cores
$$ make bench BENCH_ARGS=--quick     # smaller sizes, about 3 minutes
$$ python -m bench --only budget     # rerun one section, keep the others
$$ python -m bench --render          # redraw and rewrite from bench/results.json
```

The sections above took $run_seconds s in all ($section_seconds).
Each benchmark also runs alone and prints its figures: `python -m bench.overhead`,
`python -m bench.latency`, `python -m bench.budget`,
`python -m bench.ratelimit` (the client alone and beside a competing integration, see
[](ratelimits.md)), `python -m bench.urgent`, `python -m bench.multiprocess`,
`python -m bench.contention` and `python -m bench.bulk`.
""")


def section_seconds(results: dict[str, Any]) -> dict[str, float]:
    """The seconds each section's last run took (sections may come from separate runs)."""
    return {
        name: section["seconds"]
        for name, section in results.items()
        if isinstance(section, dict) and "seconds" in section
    }


def _trend(first: float, last: float, unit: str) -> str:
    """Describe a change: rises or falls from one figure to the other, or stays (within 5%)."""
    if abs(last - first) <= 0.05 * max(abs(first), abs(last)):
        return f"stays at about {first:.0f}{unit}"
    verb = "rises" if last > first else "falls"
    return f"{verb} from {first:.0f}{unit} to {last:.0f}{unit}"


def _percentile(section: dict[str, Any], name: str, percentile: float) -> float:
    values: list[float] = section[f"{name}_us"]
    position: int = section["percentiles"].index(percentile)
    return values[position]


def _load(load: list[float] | None) -> str:
    return ", ".join(f"{x:.2f}" for x in load) if load else "n/a"


def machine_table(results: dict[str, Any]) -> str:
    """The machine's description, one row per fact."""
    m = results["machine"]
    load = m.get("load_average_at_start")
    rows = [
        ("platform", f"`{m['platform']}`"),
        ("processor", f"{m['cpu']} ({m['machine']})"),
        ("`os.cpu_count()`", m["cpu_count"]),
        ("Python", f"{m['implementation']} {m['python']}"),
        ("aiohttp", m["aiohttp"]),
        ("b2b-async", m["b2b_async"]),
        ("load average (1, 5, 15 min) at start", _load(load)),
        ("load average at end", _load(m.get("load_average_at_end"))),
        ("date (UTC)", results["generated"].replace("T", " ").removesuffix("+00:00")),
    ]
    return table(("", ""), rows, numbers=False)


def overhead_table(section: dict[str, Any]) -> str:
    """One row per concurrency."""
    rows = []
    for run in section["runs"]:
        rounds = run["rounds"]
        ratios = [c / r for c, r in zip(rounds["client_rps"], rounds["raw_rps"], strict=True)]
        rows.append(
            (
                run["concurrency"],
                f"{run['raw_rps']:,.0f}",
                f"{run['client_rps']:,.0f}",
                f"**{run['ratio']:.3f}** ({min(ratios):.3f} to {max(ratios):.3f})",
                f"{run['raw_cpu_us']:.1f}",
                f"{run['client_cpu_us']:.1f}",
                f"{run['added_cpu_us']:+.1f}",
            )
        )
    header = (
        "concurrency",
        "bare aiohttp (req/s)",
        "B2BClient (req/s)",
        "ratio client/bare (rounds: min to max)",
        "bare CPU (µs/req)",
        "client CPU (µs/req)",
        "added CPU (µs/req, paired rounds)",
    )
    return table(header, rows)


def overhead_text(section: dict[str, Any]) -> str:
    """Whether the overhead target holds, where and by how much it does not."""
    runs = section["runs"]
    below = [run for run in runs if run["ratio"] < OVERHEAD_TARGET]
    lowest = min(runs, key=lambda run: run["ratio"])
    if not below:
        verdict = (
            f"The throughput ratio is at or above the {OVERHEAD_TARGET} target at every"
            " concurrency measured;"
            f" the lowest is {lowest['ratio']:.3f}, at concurrency {lowest['concurrency']}."
        )
    else:
        where = ", ".join(f"{run['concurrency']} ({run['ratio']:.3f})" for run in below)
        verdict = (
            f"The throughput ratio misses the {OVERHEAD_TARGET} target at {len(below)} of"
            f" {len(runs)} concurrencies: {where}."
        )
    busy = [run["client_cpu_us"] * run["client_rps"] / 1e6 for run in runs]
    bound = [run for run, share in zip(runs, busy, strict=True) if share >= 0.9]
    busy_text = ", ".join(
        f"{share:.0%} at {run['concurrency']}" for run, share in zip(runs, busy, strict=True)
    )
    if bound:
        levels = ", ".join(str(run["concurrency"]) for run in bound)
        cause = (
            f" At concurrency {levels} the client process's CPU is the bottleneck (busy"
            f" {busy_text} of the wall time), so there the ratio is set by the CPU per request."
        )
    else:
        cause = f" The client process's CPU was busy {busy_text} of the wall time."
    added = _span(run["added_cpu_us"] for run in runs)
    return (
        f"{verdict}{cause} The client spends {added} µs of CPU more than bare aiohttp on each"
        " request: validating the order, building the path, serialising the body through the"
        " converter, the concurrency cap, decoding the envelope into a typed result."
    )


def _range(values: Sequence[float]) -> str:
    return f"{min(values):,.0f} to {max(values):,.0f}"


def _span(values: Iterable[float]) -> str:
    numbers = sorted(values)
    return (
        f"{numbers[0]:.0f}"
        if round(numbers[0]) == round(numbers[-1])
        else (f"{numbers[0]:.0f} to {numbers[-1]:.0f}")
    )


def latency_table(section: dict[str, Any]) -> str:
    """Percentiles of both, and their difference."""
    rows = []
    for name, label in (("raw", "bare aiohttp"), ("client", "B2BClient")):
        rows.append(
            (
                label,
                *(f"{_percentile(section, name, p):.0f}" for p in (50, 90, 99, 99.9)),
                f"{section[f'{name}_mean_us']:.0f}",
            )
        )
    added = [
        _percentile(section, "client", p) - _percentile(section, "raw", p)
        for p in (50, 90, 99, 99.9)
    ]
    mean = section["client_mean_us"] - section["raw_mean_us"]
    rows.append(("**added**", *(f"**{a:+.0f}**" for a in added), f"**{mean:+.0f}**"))
    header = ("", "p50 (µs)", "p90 (µs)", "p99 (µs)", "p99.9 (µs)", "mean (µs)")
    return table(header, rows)


def latency_text(section: dict[str, Any]) -> str:
    """What the client adds to one call in an idle service."""
    p50 = _percentile(section, "raw", 50)
    p99 = _percentile(section, "raw", 99)
    return (
        f"In an otherwise idle service the client changes a single `create`'s latency by"
        f" {section['added_p50_us']:+.0f} µs at the median ({section['added_p50_us'] / p50:+.0%}"
        f" of bare aiohttp's {p50:.0f} µs) and by {section['added_p99_us']:+.0f} µs at p99"
        f" ({section['added_p99_us'] / p99:+.0%} of {p99:.0f} µs). These are loopback figures;"
        f" on a call that takes {REMOTE_CALL_MS} ms over the internet, the median difference"
        f" would be {section['added_p50_us'] / (REMOTE_CALL_MS * 1000):.2%} of it."
    )


def budget_table(section: dict[str, Any]) -> str:
    """One row per strategy."""
    rows = [
        (
            STRATEGY_LABELS[run["strategy"]],
            f"{run['requests']:,}",
            f"{run['rejected_429']:,} ({run['share_429']:.1%})",
            f"{run['requests'] / run['orders']:.2f}",
            f"**{run['efficiency']:.3f}**",
            f"{run['registered']:,} of {run['orders']:,}",
            f"**{run['lost']:,}**",
            f"{run['elapsed']:.1f}",
        )
        for run in section["runs"]
    ]
    header = (
        "strategy",
        "requests sent",
        "answered 429",
        "requests per order",
        "achieved/allowed",
        "registered",
        "lost",
        "time (s)",
    )
    return table(header, rows)


def _run(section: dict[str, Any], strategy: str) -> dict[str, Any]:
    run: dict[str, Any] = next(r for r in section["runs"] if r["strategy"] == strategy)
    return run


def budget_text(section: dict[str, Any]) -> str:
    """Each strategy's result in a few sentences, from the figures."""
    client, retry, naive = (_run(section, s) for s in ("client", "naive-retry", "naive"))
    limit = section["window"]["requests"]
    pace = client["orders"] / client["allowed_rate"]
    client_lost = (
        "registered every order exactly once"
        if client["lost"] == 0 and client["registered_once"]
        else f"lost {client['lost']} orders"
    )
    spans = retry["windows"]
    per = section["window"]["per"]
    idle = sum(max(0.0, b["start"] - (a["start"] + per)) for a, b in itertools.pairwise(spans))
    answers = f"{client['rejected_429']} 429 answers" if client["rejected_429"] else "no 429"
    sentences = [
        f"The client used {client['efficiency']:.1%} of the budget, met {answers} and"
        f" {client_lost}, in {client['elapsed']:.1f} s (at the budget's pace,"
        f" {client['orders']} orders take {pace:.1f} s).",
        competent_text(section),
        f"The straw man that ignores `Retry-After` sent {retry['requests']:,} requests for"
        f" {retry['orders']:,} orders, {retry['share_429']:.0%} of them answered 429, and used"
        f" {retry['efficiency']:.0%} of the budget: between the {len(spans)} windows the server"
        f" opened for it, {idle:.1f} s passed with no window open, budget that nobody spent."
        " Its calls fail together and, waiting on a fixed schedule that ignores"
        " `Retry-After`, retry together: each new window goes to the first few of a"
        " stampede, and the rest wait out their next backoff.",
        f"It gave up on {retry['lost']:,} orders after {section['naive_retry']['attempts']}"
        " attempts each."
        if retry["lost"]
        else "It registered every order in the end.",
        f"Without retries, {naive['lost']:,} of {naive['orders']:,} orders"
        f" ({naive['lost'] / naive['orders']:.0%}) were lost",
    ]
    if naive["registered"] <= limit and len(naive["windows"]) == 1:
        sentences[-1] += (
            ": only the first window's worth got through. Its budget figure covers the one"
            " window it used, not the job."
        )
    else:
        sentences[-1] += "."
    return " ".join(sentence for sentence in sentences if sentence)


#: How many ways the budget section measured, in words.
_NUMBERS: Final = {3: "three", 4: "four"}


def competent_method(section: dict[str, Any]) -> str:
    """The method's description of the competent baseline, if the section measured it."""
    backoff = section.get("competent_backoff")
    if backoff is None:
        return ""
    window = section["window"]
    return (
        " Through the **competent baseline** (`bench/baseline.py`), the honest comparison:"
        " one aiohttp session, one"
        f" `aiolimiter.AsyncLimiter({window['requests']}, {window['per']:g})` entered by every"
        " attempt, and tenacity retrying 429, 5xx and connection errors, waiting the"
        " `Retry-After` header's seconds when the answer has one and otherwise"
        f" `wait_random_exponential(multiplier={backoff['multiplier']:g},"
        f" max={backoff['max_wait']:g})`, at most {backoff['attempts']} attempts."
    )


def competent_text(section: dict[str, Any]) -> str:
    """The competent baseline's result in a few sentences, if the section measured it."""
    if not any(run["strategy"] == "competent" for run in section["runs"]):
        return ""
    run = _run(section, "competent")
    return (
        f"The competent baseline used {run['efficiency']:.1%} of the budget and sent"
        f" {run['requests_per_order']:.2f} requests per order, {run['share_429']:.1%} of them"
        f" answered 429; it lost {run['lost']:,} orders, in {run['elapsed']:.1f} s. Its"
        " limiter lets a full window's worth leave at once and then drips at the window's"
        " rate, so the server's fixed window rejects the overlap, which `Retry-After` then"
        " spaces out."
    )


def _bulk_run(section: dict[str, Any], api: str, size: int) -> dict[str, Any]:
    run: dict[str, Any] = next(
        r for r in section["runs"] if r["api"] == api and r["orders"] == size
    )
    return run


def bulk_table(section: dict[str, Any]) -> str:
    """One row per API and size."""
    rows = []
    for run in sorted(section["runs"], key=lambda r: (r["api"] != "create_stream", r["orders"])):
        speed, memory = run["throughput"], run["memory"]
        rss = max(speed["sandbox_peak_rss_kib"] or 0, memory["sandbox_peak_rss_kib"] or 0)
        rows.append(
            (
                f"`{run['api']}`",
                f"{run['orders']:,}",
                f"{speed['orders_per_s']:,.0f} ({_range(speed['repeats'])})",
                f"{speed['client_cpu_us']:.0f}",
                f"{speed['sandbox_cpu_us']:.0f}" if speed["sandbox_cpu_us"] else "n/a",
                f"**{memory['peak_bytes'] / 1e6:.2f}**",
                f"{memory['highest_sample_bytes'] / 1e6:.2f}",
                f"{rss / 1024:.0f}" if rss else "n/a",
            )
        )
    header = (
        "API",
        "orders",
        "orders/s, fastest run (all runs: min to max)",
        "client CPU (µs/order)",
        "sandbox CPU (µs/order)",
        "peak client memory (MB)",
        "client memory in use, highest sample (MB)",
        "sandbox peak RSS (MB)",
    )
    return table(header, rows)


FLAT: Final = "flat: it holds only the orders in flight and the outcomes not yet read"
GREW: Final = "it grew, which it should not"
#: Memory that may differ between sizes and still count as flat: 10%, or 50 kB.
FLAT_SHARE: Final = 0.1
FLAT_BYTES: Final = 50_000


def is_flat(small: float, large: float) -> bool:
    """Whether memory at the larger size is within the flat tolerance of the smaller's."""
    return large - small <= max(FLAT_BYTES, FLAT_SHARE * small)


def _bottleneck(section: dict[str, Any]) -> str:
    """Which process's CPU limited the throughput runs, from their busy shares."""
    shares = [
        (
            run["throughput"]["client_cpu_us"] * run["throughput"]["orders_per_s"] / 1e6,
            (run["throughput"]["sandbox_cpu_us"] or 0) * run["throughput"]["orders_per_s"] / 1e6,
        )
        for run in section["runs"]
    ]
    client = _range([100 * share for share, _ in shares])
    sandbox = _range([100 * share for _, share in shares])
    return (
        f" In the timed runs the client process was busy {client}% of the wall time and the"
        f" sandbox process {sandbox}%: the throughput is that of the pair on two cores, not"
        " of the client alone."
    )


def _peak_note(peak: float, in_use: float) -> str:
    if peak <= 1.2 * in_use:
        return ""
    return (
        " The peak lies above every sample: it is reached at the start of a run, while the"
        " client opens its connections and makes its first calls (a one-time cost, the same"
        " at every size)."
    )


def bulk_text(section: dict[str, Any]) -> str:
    """Memory growth from the smallest to the largest size, per API."""
    small, large = min(section["sizes"]), max(section["sizes"])
    memory = {
        api: [_bulk_run(section, api, size)["memory"] for size in (small, large)]
        for api in ("create_stream", "create_many")
    }
    stream = [m["peak_bytes"] for m in memory["create_stream"]]
    in_use = [m["highest_sample_bytes"] for m in memory["create_stream"]]
    many = [m["peak_bytes"] for m in memory["create_many"]]
    per_order = (many[1] - many[0]) / (large - small)
    flat = is_flat(*stream) and is_flat(*in_use)
    return (
        f"With {large / small:g} times the input, `create_stream`'s peak client memory went"
        f" from {stream[0] / 1e6:.2f} MB to {stream[1] / 1e6:.2f} MB and the most it had in"
        f" use at any sample from {in_use[0] / 1e6:.2f} MB to {in_use[1] / 1e6:.2f} MB"
        f" ({FLAT if flat else GREW}).{_peak_note(stream[1], in_use[1])} `create_many`'s"
        " peak went from"
        f" {many[0] / 1e6:.1f} MB to {many[1] / 1e6:.1f} MB, about {per_order:.0f} bytes per"
        " order: the report it returns holds one outcome per input (the order, its result),"
        " as documented; for inputs too large to keep, `create_stream` is the one to use."
        f"{_bottleneck(section)} The"
        " sandbox's own memory, in its process, is the right-hand column: it keeps every"
        " order and every request record, headers included."
    )


def growth_text(results: dict[str, Any]) -> str:
    """Cost against concurrency (overhead runs) and against input size (bulk runs)."""
    runs = results["overhead"]["runs"]
    first, last = runs[0], runs[-1]
    added = [run["added_cpu_us"] for run in runs]
    ratios = " → ".join(f"{run['ratio']:.3f}" for run in runs)
    levels = ", ".join(str(run["concurrency"]) for run in runs)
    bulk = results["bulk"]
    small, large = min(bulk["sizes"]), max(bulk["sizes"])
    stream = [_bulk_run(bulk, "create_stream", s)["throughput"] for s in (small, large)]
    many = [_bulk_run(bulk, "create_many", s)["throughput"] for s in (small, large)]
    stream_memory = [
        _bulk_run(bulk, "create_stream", s)["memory"]["peak_bytes"] for s in (small, large)
    ]
    many_memory = [
        _bulk_run(bulk, "create_many", s)["memory"]["peak_bytes"] for s in (small, large)
    ]
    cpu_at_budget = STORE_REQUESTS_PER_S * max(run["client_cpu_us"] for run in runs)
    return "\n".join(
        [
            f"- **Concurrency.** From concurrency {first['concurrency']} to"
            f" {last['concurrency']}, the client's CPU per request"
            f" {_trend(first['client_cpu_us'], last['client_cpu_us'], ' µs')} and bare"
            f" aiohttp's {_trend(first['raw_cpu_us'], last['raw_cpu_us'], ' µs')}; what the"
            f" client adds per request {_trend(added[0], added[-1], ' µs')}. The throughput"
            f" ratio goes {ratios} over concurrencies {levels}.",
            f"- **Input size.** From {small:,} to {large:,} orders"
            f" ({large / small:g} times as many), `create_stream`'s throughput"
            f" {_trend(stream[0]['orders_per_s'], stream[1]['orders_per_s'], '/s')}, its"
            " client CPU per order"
            f" {_trend(stream[0]['client_cpu_us'], stream[1]['client_cpu_us'], ' µs')}"
            f" and its peak memory {_trend_mb(stream_memory[0], stream_memory[1])};"
            " `create_many`'s throughput"
            f" {_trend(many[0]['orders_per_s'], many[1]['orders_per_s'], '/s')} and its peak"
            f" memory {_trend_mb(many_memory[0], many_memory[1])}. {_time_growth(stream, many)}",
            f"- **Against the store's budget.** At 150 requests a minute, even the highest CPU"
            f" per request measured here comes to {cpu_at_budget / 1000:.2f} ms of client CPU a"
            " second. What decides a batch's time there is how much of each window is spent"
            " and how many orders are given up on (see the budget section).",
        ]
    )


def _time_growth(*cases: list[dict[str, Any]]) -> str:
    """Whether a run's time grows in proportion to its input (throughput within 10%)."""
    changes = [abs(case[1]["orders_per_s"] / case[0]["orders_per_s"] - 1) for case in cases]
    if max(changes) <= 0.1:
        return "Throughput holds within 10%, so a run's time grows in proportion to its input."
    return f"Throughput changes by up to {max(changes):.0%} between the sizes."


def _trend_mb(first: float, last: float) -> str:
    if abs(last - first) <= 0.05 * max(first, last):
        return f"stays at about {first / 1e6:.2f} MB"
    verb = "rises" if last > first else "falls"
    return f"{verb} from {first / 1e6:.2f} MB to {last / 1e6:.2f} MB"


def _mode_note(results: dict[str, Any]) -> str:
    mode = results.get("mode", "full")
    if mode == "full":
        return "one run of the full set"
    if mode == "quick":
        return "one run of the `--quick` set (smaller sizes, rougher figures)"
    modes = ", ".join(
        f"{name} {section['mode']}"
        for name, section in results.items()
        if isinstance(section, dict) and "mode" in section
    )
    return f"runs of different sets ({modes})"


def render(results: dict[str, Any]) -> str:
    """The page for ``results``."""
    budget, bulk = results["budget"], results["bulk"]
    retry = budget["naive_retry"]
    per = budget["window"]["per"]
    scale = 60 / per  # the store's window is a minute
    generated = datetime.datetime.fromisoformat(results["generated"])
    sizes = sorted(bulk["sizes"])
    return TEMPLATE.substitute(
        mode_note=_mode_note(results),
        targets_section=page_pacing.targets_section(results),
        pacing_method=page_pacing.method(results),
        budget_ways=_NUMBERS[len(budget["runs"])],
        competent_method=competent_method(budget),
        comparison_section=page_pacing.section_or_note(
            results,
            "comparison",
            lambda section: page_pacing.comparison_section(section, results.get("budget")),
        ),
        urgent_section=page_pacing.section_or_note(results, "urgent", page_pacing.urgent_section),
        multiprocess_section=page_pacing.section_or_note(
            results, "multiprocess", page_pacing.multiprocess_section
        ),
        contended_section=page_pacing.section_or_note(
            results, "contended", page_pacing.contended_section
        ),
        date=generated.strftime("%Y-%m-%d"),
        machine_table=machine_table(results),
        overhead_requests=f"{results['overhead']['requests_per_round']:,}",
        overhead_requests_arg=results["overhead"]["requests_per_round"],
        overhead_rounds=results["overhead"]["rounds"],
        latency_samples=f"{results['latency']['samples']:,}",
        latency_samples_arg=results["latency"]["samples"],
        latency_blocks=results["latency"]["blocks"],
        window_requests=budget["window"]["requests"],
        window_per=f"{per:g}",
        budget_orders=budget["runs"][0]["orders"],
        naive_multiplier=f"{retry['multiplier']:g}",
        naive_max=f"{retry['max_wait']:g}",
        naive_attempts=retry["attempts"],
        naive_multiplier_real=f"{retry['multiplier'] * scale:g}",
        naive_max_real=f"{retry['max_wait'] * scale:g}",
        bulk_sizes_text=" and ".join(f"{size:,}" for size in sizes),
        bulk_concurrency=bulk["concurrency"],
        bulk_repeats=bulk["repeats"],
        overhead_table=overhead_table(results["overhead"]),
        overhead_text=overhead_text(results["overhead"]),
        latency_table=latency_table(results["latency"]),
        latency_text=latency_text(results["latency"]),
        budget_table=budget_table(budget),
        budget_text=budget_text(budget),
        bulk_table=bulk_table(bulk),
        bulk_text=bulk_text(bulk),
        growth_text=growth_text(results),
        run_seconds=f"{sum(section_seconds(results).values()):.0f}",
        section_seconds=", ".join(
            f"{name} {seconds:.0f} s" for name, seconds in section_seconds(results).items()
        ),
    )
