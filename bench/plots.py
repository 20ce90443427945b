"""The performance page's plots, drawn from ``bench/results.json`` (matplotlib, Agg backend)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # after use(): the backend must be chosen first
from matplotlib.axes import Axes
from matplotlib.container import BarContainer
from matplotlib.figure import Figure

from bench.overhead import TARGET as OVERHEAD_TARGET

BARE: Final = "#8a8a8a"
CLIENT: Final = "#2364c8"
ACCEPTED: Final = "#2e9d57"
REJECTED: Final = "#d1495b"
COMPETENT: Final = "#15967f"
STRATEGY_COLOURS: Final = {
    "client": CLIENT,
    "competent": COMPETENT,
    "naive-retry": "#e08a1e",
    "naive": "#8e44ad",
}
STRATEGY_LABELS: Final = {
    "client": "B2BClient, default pacing",
    "competent": "competent baseline: aiohttp + AsyncLimiter + tenacity honouring Retry-After",
    "naive-retry": "straw man: gather + tenacity @retry (429 retryable, Retry-After ignored)",
    "naive": "straw man: gather, no retries",
}
#: Short names of the strategies, for legends and table rows.
STRATEGY_SHORT: Final = {
    "client": "B2BClient",
    "competent": "competent baseline",
    "naive-retry": "straw man with retries",
    "naive": "straw man",
}
MODE_COLOURS: Final = {"create_many": CLIENT, "gathered": "#7b3fb5", "competent": COMPETENT}
MODE_LABELS: Final = {
    "create_many": "B2BClient, backfill by create_many",
    "gathered": 'B2BClient, backfill gathered in client.priority("bulk")',
    "competent": "competent baseline (no priorities), backfill gathered",
}
API_COLOURS: Final = {"create_stream": CLIENT, "create_many": "#e08a1e"}
DPI: Final = 110

plt.rcParams.update(
    {
        "font.size": 10,
        "axes.titlesize": 11,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "legend.frameon": False,
    }
)


def _save(figure: Figure, path: Path) -> str:
    figure.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(figure)
    return path.name


def _label_bars(
    ax: Axes, bars: BarContainer, text: Callable[[float], str], inside: bool = False
) -> None:
    """Write each bar's value above it, or inside at its foot (where dots would hide it).

    A bar too short to hold its label inside gets it above, clear of the dots on its top.
    """
    tallest = max((bar.get_height() for bar in bars), default=0.0)
    for bar in bars:
        height = bar.get_height()
        within = inside and height >= 0.45 * tallest
        above = inside and not within
        ax.annotate(
            text(height),
            (bar.get_x() + bar.get_width() * (0.3 if within else 0.5), 0 if within else height),
            xytext=(0, 3 if within else 14 if above else 2),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=8,
            color="white" if within else "black",
            rotation=90 if inside else 0,
        )


def _grouped(
    ax: Axes,
    groups: Sequence[str],
    series: dict[str, tuple[Sequence[float], str]],
    text: Callable[[float], str],
    inside: bool = False,
) -> list[float]:
    """Grouped bars: one group per label, one bar per series; returns the group centres."""
    width = 0.8 / len(series)
    centres = [float(i) for i in range(len(groups))]
    for number, (name, (values, colour)) in enumerate(series.items()):
        offset = (number - (len(series) - 1) / 2) * width
        bars = ax.bar([c + offset for c in centres], values, width, label=name, color=colour)
        _label_bars(ax, bars, text, inside)
    ax.set_xticks(centres, groups)
    return centres


def draw_overhead(section: dict[str, Any], folder: Path) -> str:
    """Throughput, throughput ratio and client CPU per request, by concurrency."""
    runs = section["runs"]
    labels = [str(run["concurrency"]) for run in runs]
    figure, (speed, ratio, cpu) = plt.subplots(1, 3, figsize=(14, 4.2))
    centres = _grouped(
        speed,
        labels,
        {
            "bare aiohttp": ([run["raw_rps"] for run in runs], BARE),
            "B2BClient": ([run["client_rps"] for run in runs], CLIENT),
        },
        lambda value: f"median {value:,.0f}",
        inside=True,
    )
    speed.set(
        title="Throughput (median of rounds)", xlabel="concurrency", ylabel="requests per second"
    )
    for centre, run in zip(centres, runs, strict=True):
        for name, offset in (("raw_rps", -0.1), ("client_rps", 0.3)):
            rounds = run["rounds"][name]
            speed.scatter(
                [centre + offset] * len(rounds),
                rounds,
                s=10,
                color="black",
                alpha=0.6,
                zorder=3,
                label="one round" if centre == 0 and name == "raw_rps" else None,
            )
    speed.legend(loc="upper left")
    speed.set_ylim(
        0, 1.2 * max(max(run["rounds"]["raw_rps"] + run["rounds"]["client_rps"]) for run in runs)
    )

    for centre, run in zip(centres, runs, strict=True):
        rounds = run["rounds"]
        pairs = zip(rounds["client_rps"], rounds["raw_rps"], strict=True)
        ratio.scatter(
            [centre] * len(rounds["raw_rps"]),
            [c / r for c, r in pairs],
            s=14,
            color=CLIENT,
            alpha=0.35,
            label="one round" if centre == 0 else None,
        )
    medians = [run["ratio"] for run in runs]
    ratio.plot(centres, medians, "o-", color=CLIENT, label="median")
    for centre, value in zip(centres, medians, strict=True):
        ratio.annotate(
            f"{value:.3f}", (centre, value), xytext=(8, -3), textcoords="offset points", fontsize=8
        )
    target = f"target {OVERHEAD_TARGET}"
    ratio.axhline(OVERHEAD_TARGET, color="black", linestyle="--", linewidth=1, label=target)
    ratio.axhline(1.0, color="black", linewidth=0.6, alpha=0.5)
    ratio.set_xticks(centres, labels)
    ratio.set(title="Throughput ratio, client / bare aiohttp", xlabel="concurrency", ylabel="ratio")
    every = [
        c / r
        for run in runs
        for c, r in zip(run["rounds"]["client_rps"], run["rounds"]["raw_rps"], strict=True)
    ]
    ratio.set_ylim(min(0.7, min(every) - 0.03), max(1.1, max(every) + 0.03))
    ratio.legend(loc="best")

    _grouped(
        cpu,
        labels,
        {
            "bare aiohttp": ([run["raw_cpu_us"] for run in runs], BARE),
            "B2BClient": ([run["client_cpu_us"] for run in runs], CLIENT),
        },
        lambda value: f"{value:.0f}",
    )
    cpu.set(title="Client CPU time per request", xlabel="concurrency", ylabel="µs per request")
    cpu.legend(loc="upper right")
    cpu.margins(y=0.15)
    figure.tight_layout()
    return _save(figure, folder / "overhead.png")


def draw_latency(section: dict[str, Any], folder: Path) -> str:
    """Latency by percentile for both, and what the client adds at each percentile."""
    fractions = [p / 100 for p in section["percentiles"]]
    raw, client = section["raw_us"], section["client_us"]
    figure, (both, added) = plt.subplots(1, 2, figsize=(12, 4.2))
    both.plot(fractions, raw, color=BARE, label="bare aiohttp")
    both.plot(fractions, client, color=CLIENT, label="B2BClient")
    both.set(
        title=f"Latency of one create, sequential ({section['samples']:,} calls each)",
        ylabel="µs",
        xlabel="percentile",
    )
    both.legend(loc="upper left")
    added.plot(fractions, [c - r for c, r in zip(client, raw, strict=True)], color=CLIENT)
    added.axhline(0, color="black", linewidth=0.6)
    added.set(title="Added by the client (client - bare)", ylabel="µs", xlabel="percentile")
    for ax in (both, added):
        ax.set_xscale("logit")
        ticks = [0.01, 0.1, 0.5, 0.9, 0.99, 0.999]
        ax.set_xticks(ticks, [f"p{t * 100:g}" for t in ticks])
        ax.minorticks_off()
        ax.set_xlim(fractions[0], fractions[-1])
    figure.tight_layout()
    return _save(figure, folder / "latency.png")


def draw_budget_windows(section: dict[str, Any], folder: Path) -> str:
    """Per strategy, accepted and 429 answers in each of the server's windows."""
    window = section["window"]
    runs = section["runs"]
    per = window["per"]
    figure, axes = plt.subplots(
        len(runs), 1, figsize=(12, 2.7 * len(runs)), sharex=True, sharey=True
    )
    highest = max(max(w["accepted"], w["rejected"]) for run in runs for w in run["windows"])
    for ax, run in zip(axes, runs, strict=True):
        starts = [w["start"] for w in run["windows"]]
        ax.bar(
            starts,
            [w["accepted"] for w in run["windows"]],
            0.45 * per,
            align="edge",
            color=ACCEPTED,
            label="accepted",
        )
        ax.bar(
            [s + 0.5 * per for s in starts],
            [w["rejected"] for w in run["windows"]],
            0.45 * per,
            align="edge",
            color=REJECTED,
            label="429",
        )
        ax.axhline(
            window["requests"],
            color="black",
            linestyle="--",
            linewidth=1,
            label=f"limit: {window['requests']} per {per:g} s window",
        )
        ax.set_yscale("log")
        ax.set_ylim(0.8, highest * 2.5)
        ax.set_ylabel("requests per window")
        ax.set_title(
            f"{STRATEGY_LABELS[run['strategy']]}: {run['registered']} of {run['orders']}"
            f" registered, {run['share_429']:.1%} of {run['requests']:,} requests answered 429,"
            f" budget used {run['efficiency']:.0%}",
            loc="left",
        )
        ax.legend(loc="upper right", ncols=3)
    axes[-1].set_xlabel("seconds since the first request (bars: the server's windows)")
    figure.tight_layout()
    return _save(figure, folder / "budget_windows.png")


def draw_budget_progress(section: dict[str, Any], folder: Path) -> str:
    """Orders registered over time per strategy, against what the budget allows."""
    runs = section["runs"]
    figure, ax = plt.subplots(figsize=(12, 4.2))
    end = max([run["elapsed"] for run in runs] + [run["registered_at"][-1] for run in runs])
    orders = runs[0]["orders"]
    rate = runs[0]["allowed_rate"]
    ideal_end = orders / rate
    ax.plot(
        [0, ideal_end, max(end, ideal_end)],
        [0, orders, orders],
        color="0.8",
        linewidth=6,
        label=f"the budget's pace ({rate:g} per s)",
    )
    for run in runs:
        times = [0.0, *run["registered_at"], run["elapsed"]]
        counts = [0, *range(1, run["registered"] + 1), run["registered"]]
        ax.step(
            times,
            counts,
            where="post",
            color=STRATEGY_COLOURS[run["strategy"]],
            label=f"{STRATEGY_LABELS[run['strategy']]}: {run['registered']} registered,"
            f" {run['lost']} lost",
        )
    ax.set(
        title=f"Orders registered over time ({orders} gathered at once)",
        xlabel="seconds since the first request",
        ylabel="orders registered",
    )
    ax.set_ylim(0, orders * 1.05)
    ax.legend(loc="upper left")
    figure.tight_layout()
    return _save(figure, folder / "budget_progress.png")


def _memory_line(ax: Axes, run: dict[str, Any], scale: float, **style: Any) -> None:
    samples = run["memory"]["samples"]
    ax.plot(
        [done / scale for done, _ in samples],
        [size / 1e6 for _, size in samples],
        **style,
    )


def draw_bulk_memory(section: dict[str, Any], folder: Path) -> str:
    """Client memory while the largest input runs, and create_stream's at every size."""
    runs = section["runs"]
    largest = max(section["sizes"])
    figure, (big, stream) = plt.subplots(1, 2, figsize=(12, 4.2))
    for run in runs:
        if run["orders"] == largest:
            _memory_line(
                big,
                run,
                1,
                color=API_COLOURS[run["api"]],
                label=f"{run['api']}: peak {run['memory']['peak_bytes'] / 1e6:.1f} MB",
            )
    big.set(
        title=f"Traced client memory, {largest:,} orders",
        xlabel="orders done",
        ylabel="MB allocated (tracemalloc)",
    )
    big.legend(loc="upper left")
    shades = plt.get_cmap("Blues")
    sizes = sorted(section["sizes"])
    for number, size in enumerate(sizes):
        run = next(r for r in runs if r["api"] == "create_stream" and r["orders"] == size)
        _memory_line(
            stream,
            run,
            size / 100,
            color=shades(0.45 + 0.5 * number / len(sizes)),
            label=f"{size:,} orders: peak {run['memory']['peak_bytes'] / 1e6:.2f} MB",
        )
    stream.set(
        title="create_stream: traced client memory by input size",
        xlabel="% of the input done",
        ylabel="MB allocated (tracemalloc)",
    )
    stream.set_ylim(bottom=0)
    stream.legend(loc="lower right")
    figure.tight_layout()
    figure.text(
        0.5,
        -0.02,
        f"Lines: memory in use, sampled every {100 / section['memory_samples']:g}% of the"
        " input. Peaks: the highest over the whole run, the client's setup and first"
        " connections included.",
        ha="center",
        fontsize=9,
    )
    return _save(figure, folder / "bulk_memory.png")


def draw_bulk_scale(section: dict[str, Any], folder: Path) -> str:
    """Throughput and peak client memory by input size, both APIs."""
    runs = section["runs"]
    sizes = sorted(section["sizes"])

    def values(api: str, pick: Callable[[dict[str, Any]], float]) -> list[float]:
        return [pick(next(r for r in runs if r["api"] == api and r["orders"] == s)) for s in sizes]

    labels = [f"{size:,} orders" for size in sizes]
    figure, (speed, memory) = plt.subplots(1, 2, figsize=(12, 4.2))
    _grouped(
        speed,
        labels,
        {
            api: (values(api, lambda r: r["throughput"]["orders_per_s"]), colour)
            for api, colour in API_COLOURS.items()
        },
        lambda value: f"{value:,.0f}",
    )
    speed.set(
        title=f"Throughput (fastest of {section['repeats']}), concurrency"
        f" {section['concurrency']}, no rate limit",
        ylabel="orders per second",
    )
    speed.legend(loc="upper center", ncols=2)
    speed.set_ylim(0, 1.3 * max(r["throughput"]["orders_per_s"] for r in runs))
    _grouped(
        memory,
        labels,
        {
            api: (values(api, lambda r: r["memory"]["peak_bytes"] / 1e6), colour)
            for api, colour in API_COLOURS.items()
        },
        lambda value: f"{value:.2f} MB",
    )
    memory.set_yscale("log")
    memory.set(title="Peak traced client memory (log scale)", ylabel="MB")
    memory.legend(loc="upper center", ncols=2)
    peaks = [r["memory"]["peak_bytes"] / 1e6 for r in runs]
    memory.set_ylim(min(peaks) / 3, max(peaks) * 20)
    figure.tight_layout()
    return _save(figure, folder / "bulk_scale.png")


Pick = Callable[[dict[str, Any]], float]


def _by_latency(
    runs: list[dict[str, Any]], strategy: str, competing: int, pick: Pick
) -> tuple[list[float], list[float]]:
    """The latencies (ms) and the picked figure of one strategy's runs at one competition."""
    chosen = sorted(
        (run for run in runs if run["strategy"] == strategy and run["competing"] == competing),
        key=lambda run: run["latency"],
    )
    return [run["latency"] * 1000 for run in chosen], [pick(run) for run in chosen]


def draw_comparison(section: dict[str, Any], folder: Path) -> str:
    """Efficiency, 429 share and requests per order against server latency, per strategy."""
    runs = section["runs"]
    figure, axes = plt.subplots(1, 3, figsize=(15, 4.4))
    panels = (
        ("Budget used (achieved/allowed)", "achieved / allowed", lambda r: r["efficiency"]),
        ("Requests answered 429", "% of requests", lambda r: 100 * r["share_429"]),
        ("Requests sent per order", "requests / order", lambda r: r["requests_per_order"]),
    )
    strategies = sorted({run["strategy"] for run in runs}, key=list(STRATEGY_COLOURS).index)
    shares = sorted({run["competing"] for run in runs})
    for ax, (title, ylabel, pick) in zip(axes, panels, strict=True):
        for strategy in strategies:
            for share in shares:
                x, y = _by_latency(runs, strategy, share, pick)
                ax.plot(
                    x,
                    y,
                    "o-" if share == 0 else "s--",
                    color=STRATEGY_COLOURS[strategy],
                    label=f"{STRATEGY_SHORT[strategy]},"
                    f" {'alone' if share == 0 else f'competitor spends {share}'}",
                )
        ax.set(title=title, xlabel="server latency (ms)", ylabel=ylabel)
        ax.set_xticks(sorted({run["latency"] * 1000 for run in runs}))
        ax.margins(y=0.15)
    axes[0].axhline(1.0, color="black", linewidth=0.6, alpha=0.5)
    handles, labels = axes[0].get_legend_handles_labels()
    figure.tight_layout()
    figure.legend(handles, labels, loc="upper center", ncols=4, bbox_to_anchor=(0.5, 0.0))
    return _save(figure, folder / "comparison.png")


def draw_urgent(section: dict[str, Any], folder: Path) -> str:
    """The single creates' call times: their distribution, and over the run, per mode."""
    runs = section["runs"]
    limit = section["targets"]["p99_intervals"] * section["interval"] + section["latency"]
    figure, (spread, over_time) = plt.subplots(1, 2, figsize=(14, 4.6))
    for run in runs:
        waits = sorted(run["call_waits"])
        colour, label = MODE_COLOURS[run["mode"]], MODE_LABELS[run["mode"]]
        shares = [(i + 1) / len(waits) for i in range(len(waits))]
        spread.step(waits, shares, where="post", color=colour, label=label)
        over_time.scatter(run["started_at"], run["call_waits"], s=10, color=colour, label=label)
    for ax, line in ((spread, spread.axvline), (over_time, over_time.axhline)):
        line(limit, color="black", linestyle="--", linewidth=1, label="target for the p99")
        if section["latency"]:
            line(section["latency"], color="black", linestyle=":", linewidth=1, label="latency")
        ax.grid(True, which="both", alpha=0.3)
    spread.set_xscale("log")
    spread.set(
        title="Single creates: share done within a time",
        xlabel="call time, s (log scale)",
        ylabel="share of single creates",
    )
    over_time.set_yscale("log")
    over_time.set(
        title="Single creates: call time by when they were made",
        xlabel="seconds since the first single create",
        ylabel="call time, s (log scale)",
    )
    handles, labels = spread.get_legend_handles_labels()
    figure.tight_layout()
    figure.legend(handles, labels, loc="upper center", ncols=3, bbox_to_anchor=(0.5, 0.0))
    return _save(figure, folder / "urgent_waits.png")


DRAWERS: Final[dict[str, tuple[Callable[[dict[str, Any], Path], str], ...]]] = {
    "overhead": (draw_overhead,),
    "latency": (draw_latency,),
    "budget": (draw_budget_windows, draw_budget_progress),
    "comparison": (draw_comparison,),
    "urgent": (draw_urgent,),
    "bulk": (draw_bulk_memory, draw_bulk_scale),
}


def draw_all(results: dict[str, Any], folder: Path) -> list[str]:
    """Draw every plot whose section is in ``results``; return the file names."""
    return [
        draw(results[section], folder)
        for section, drawers in DRAWERS.items()
        if section in results
        for draw in drawers
    ]
