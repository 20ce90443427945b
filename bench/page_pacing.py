"""The performance page's sections on pacing, written from ``bench/results.json``.

The client against the competent hand-written baseline under competition and latency, single
creates beside a backfill (in one process and across processes sharing Redis), efficiency
with the CPU contended, and the acceptance targets with how each fared. A section missing from
the results says so instead of showing figures.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.budget import meets_latency_target
from bench.contention import meets_target
from bench.markdown import milliseconds, table, verdict
from bench.plots import MODE_LABELS, STRATEGY_SHORT
from bench.urgent import Targets, met_across


def not_measured(section: str) -> str:
    """The note a section gets when the results do not hold it."""
    return (
        f"Not measured in this run: `python -m bench --only {section}` measures it and keeps"
        " the other sections."
    )


def section_or_note(
    results: dict[str, Any], name: str, write: Callable[[dict[str, Any]], str]
) -> str:
    """``write``'s Markdown for the section ``name``, or the note that it was not measured."""
    section = results.get(name)
    return not_measured(name) if section is None else write(section)


def condition(run: dict[str, Any], window: dict[str, Any]) -> str:
    """A run's conditions in words: alone or competing, and the server's latency."""
    who = "alone" if not run["competing"] else f"competitor spends {run['competing']} of {window}"
    return f"{who}, {milliseconds(run['latency'])}"


def comparison_rows(section: dict[str, Any]) -> list[tuple[object, ...]]:
    """One row per run: its conditions, strategy and figures."""
    window = section["window"]["requests"]
    return [
        (
            condition(run, window),
            STRATEGY_SHORT[run["strategy"]],
            f"**{run['efficiency']:.3f}**",
            f"{run['rejected_429']:,} ({run['share_429']:.1%})",
            f"{run['requests_per_order']:.2f}",
            f"{run['lost']:,}",
            f"{run['elapsed']:.1f}",
        )
        for run in section["runs"]
    ]


def comparison_table(section: dict[str, Any]) -> str:
    """The client and the baseline under every condition."""
    header = (
        "conditions",
        "strategy",
        "achieved/allowed",
        "answered 429",
        "requests per order",
        "lost",
        "time (s)",
    )
    return table(header, comparison_rows(section), labels=2)


def _pick(section: dict[str, Any], strategy: str, competing: int, latency: float) -> dict[str, Any]:
    run: dict[str, Any] = next(
        r
        for r in section["runs"]
        if (r["strategy"], r["competing"], r["latency"]) == (strategy, competing, latency)
    )
    return run


def _series(section: dict[str, Any], strategy: str, competing: int) -> str:
    runs = sorted(
        (r for r in section["runs"] if (r["strategy"], r["competing"]) == (strategy, competing)),
        key=lambda r: r["latency"],
    )
    return " → ".join(f"{r['efficiency']:.3f}" for r in runs)


def latencies_of(section: dict[str, Any]) -> list[float]:
    """The latencies the section measured, lowest first."""
    return sorted({run["latency"] for run in section["runs"]})


def client_caps(section: dict[str, Any]) -> str:
    """The client's cap on requests in flight at each latency, in words."""
    caps = {
        run["latency"]: run["max_concurrency"]
        for run in section["runs"]
        if run["strategy"] == "client"
    }
    return ", ".join(f"{cap} at {milliseconds(latency)}" for latency, cap in sorted(caps.items()))


def comparison_text(section: dict[str, Any]) -> str:
    """The comparison in a few sentences, from the figures."""
    latencies = latencies_of(section)
    low = latencies[0]
    shares = sorted({run["competing"] for run in section["runs"]})
    competing = shares[-1]
    client, baseline = (_pick(section, s, 0, low) for s in ("client", "competent"))
    crowded = [_pick(section, s, competing, low) for s in ("client", "competent")]
    steps = " → ".join(milliseconds(latency) for latency in latencies)
    return (
        f"Alone at {milliseconds(low)}, the client used {client['efficiency']:.1%} of the"
        f" budget with {client['share_429']:.1%} of its requests answered 429; the competent"
        f" baseline used {baseline['efficiency']:.1%}, with {baseline['share_429']:.1%} answered"
        f" 429 ({baseline['requests_per_order']:.2f} requests per order): its limiter lets a"
        " full window's worth leave at once, then keeps dripping, and the server's fixed window"
        " rejects what does not fit. Beside a competing integration spending"
        f" {competing} of every {section['window']['requests']}, the baseline's share of 429"
        f" answers was {crowded[1]['share_429']:.1%} and the client's"
        f" {crowded[0]['share_429']:.1%}; budget used {crowded[1]['efficiency']:.1%} and"
        f" {crowded[0]['efficiency']:.1%}. Over server latencies of {steps}, the client's share"
        f" of the budget went {_series(section, 'client', 0)} alone and"
        f" {_series(section, 'client', competing)} competing; the baseline's"
        f" {_series(section, 'competent', 0)} and {_series(section, 'competent', competing)}."
        " Lost orders: the client"
        f" {sum(r['lost'] for r in section['runs'] if r['strategy'] == 'client')}, the baseline"
        f" {sum(r['lost'] for r in section['runs'] if r['strategy'] == 'competent')}, over all"
        " these runs."
    )


def burst_note(section: dict[str, Any], budget: dict[str, Any] | None) -> str:
    """How the run's length weighs the baseline's opening burst, if the budget section shows
    the baseline on a longer run."""
    longer = [r for r in (budget or {}).get("runs", []) if r["strategy"] == "competent"]
    if not longer or longer[0]["orders"] == section["orders"]:
        return ""
    alone = _pick(section, "competent", 0, latencies_of(section)[0])
    return (
        f" The baseline's opening burst weighs more in these runs of {section['orders']}"
        f" orders than in the budget section's {longer[0]['orders']}: there, alone, its share"
        f" of 429 answers was {longer[0]['share_429']:.1%}, here {alone['share_429']:.1%}."
    )


def comparison_section(section: dict[str, Any], budget: dict[str, Any] | None = None) -> str:
    """The comparison's table, text and plot."""
    return "\n\n".join(
        [
            f"{section['orders']} creates gathered at once under each condition.",
            comparison_table(section),
            comparison_text(section) + burst_note(section, budget),
            "![Budget used, 429 answers and requests per order against server latency]"
            "(_static/bench/comparison.png)",
        ]
    )


def targets_of(section: dict[str, Any]) -> Targets:
    """The targets a scenario's section was measured against."""
    return Targets(**section["targets"])


def urgent_limit(section: dict[str, Any]) -> float:
    """The largest p99 call time the target allows: pacing intervals plus server latency."""
    return targets_of(section).p99_limit(section["interval"], section["latency"])


def urgent_rows(section: dict[str, Any]) -> list[tuple[object, ...]]:
    """One row per mode: the single creates' waits and the whole run's figures."""
    rows: list[tuple[object, ...]] = []
    for run in section["runs"]:
        call, budget = run["call"], run["budget_wait"]
        rows.append(
            (
                MODE_LABELS[run["mode"]],
                f"{run['singles']}",
                f"{call['p50']:.3f} s ({call['p50_intervals']:.1f})",
                f"**{call['p99']:.3f} s** ({call['p99_intervals']:.1f})",
                f"{budget['p99']:.3f} s ({budget['p99_intervals']:.1f})",
                f"{run['efficiency']:.3f}",
                f"{run['share_429']:.2%}",
                f"{run['lost']} / {run['duplicated']}",
                f"{run['elapsed']:.1f}",
            )
        )
    return rows


def urgent_table(section: dict[str, Any]) -> str:
    """The scenario's figures per mode."""
    header = (
        "backfill",
        "single creates",
        "call time p50 (intervals beyond latency)",
        "call time p99 (intervals beyond latency)",
        "until received, p99 (intervals)",
        "achieved/allowed, whole run",
        "answered 429",
        "lost / registered twice",
        "time (s)",
    )
    return table(header, urgent_rows(section))


def urgent_target_rows(section: dict[str, Any], run: dict[str, Any]) -> list[tuple[object, ...]]:
    """Each acceptance target of one client mode: the target, the figure, met or missed."""
    targets = section["targets"]
    met = targets_of(section).met(run, section["interval"], section["latency"])
    return [
        (
            f"single creates' p99 ≤ {targets['p99_intervals']:g} intervals + latency"
            f" = {urgent_limit(section):.3f} s",
            f"{run['call']['p99']:.3f} s",
            verdict(met["p99"]),
        ),
        (
            f"achieved/allowed ≥ {targets['efficiency']:g}",
            f"{run['efficiency']:.3f}",
            verdict(met["efficiency"]),
        ),
        (
            f"429 answers ≤ {targets['share_429']:.1%}",
            f"{run['share_429']:.2%}",
            verdict(met["share_429"]),
        ),
        (
            "nothing lost or registered twice",
            f"{run['lost']} lost, {run['duplicated']} twice",
            verdict(met["lost"]),
        ),
    ]


def client_runs(section: dict[str, Any]) -> list[dict[str, Any]]:
    """The runs of the client's modes (the baseline has no priorities, so no targets)."""
    return [run for run in section["runs"] if run["mode"] != "competent"]


def urgent_targets(section: dict[str, Any]) -> str:
    """The acceptance targets beside the figures of the client's modes, met or missed."""
    rows = [
        (f"`{run['mode']}`", *row)
        for run in client_runs(section)
        for row in urgent_target_rows(section, run)
    ]
    return table(("backfill", "target", "measured", ""), rows, numbers=False)


def urgent_text(section: dict[str, Any]) -> str:
    """What the single creates waited, with priorities and without."""
    sentences = []
    for run in section["runs"]:
        call = run["call"]
        slow = sum(1 for wait in run["call_waits"] if wait > urgent_limit(section))
        label = MODE_LABELS[run["mode"]]
        sentences.append(
            f"{label[0].upper()}{label[1:]}: the single creates took {call['p50']:.3f} s at the"
            f" median and {call['p99']:.3f} s at p99 (the longest {call['max']:.3f} s);"
            f" {slow} of {run['singles']} took longer than the target's"
            f" {urgent_limit(section):.3f} s."
        )
    return " ".join(sentences)


def urgent_section(section: dict[str, Any]) -> str:
    """The one-process scenario: setting, figures, targets, plot."""
    window = section["window"]
    setting = (
        f"A backfill of {section['orders']:,} orders runs against a window of"
        f" {window['requests']} per {window['per']:g} s (one pacing interval is"
        f" {milliseconds(section['interval'])}), the server answering after"
        f" {milliseconds(section['latency'])}; from {section['every']:g} s after it starts, one"
        f" default-priority `client.orders.create(...)` is made every {section['every']:g} s"
        f" until it ends; the client's `max_concurrency` is {section['max_concurrency']}."
        " Call time runs from the call to its return, and so includes one"
        " server latency; in brackets, the time beyond that latency in pacing intervals, which"
        ' the target counts. "Until received" runs from the call to the moment the server'
        " received the request; in brackets, in pacing intervals."
    )
    return "\n\n".join(
        [
            setting,
            urgent_table(section),
            urgent_text(section),
            "Acceptance targets (the competent baseline has no priorities; its row above shows"
            " what its single creates waited):",
            urgent_targets(section),
            "![Single creates' call times during the backfill, per mode]"
            "(_static/bench/urgent_waits.png)",
        ]
    )


def contended_rows(section: dict[str, Any]) -> list[tuple[object, ...]]:
    """One row per strategy, the client's with its target."""
    rows: list[tuple[object, ...]] = []
    for run in section["runs"]:
        target = (
            f"≥ {section['target']:g}: {verdict(meets_target(run, section['target']))}"
            if run["strategy"] == "client"
            else ""
        )
        rows.append(
            (
                STRATEGY_SHORT[run["strategy"]],
                f"**{run['efficiency']:.3f}**",
                target,
                f"{run['rejected_429']:,} ({run['share_429']:.1%})",
                f"{run['requests_per_order']:.2f}",
                f"{run['lost']:,}",
            )
        )
    return rows


def contended_section(section: dict[str, Any]) -> str:
    """Efficiency while CPU-burning processes take the cores."""
    header = (
        "strategy",
        "achieved/allowed",
        "target",
        "answered 429",
        "requests per order",
        "lost",
    )
    return "\n\n".join(
        [
            f"{section['burners']} processes each spin on a core (`python3 -c 'while True:"
            f" pass'`) while {section['orders']} creates are gathered against the window, the"
            f" server answering after {milliseconds(section['latency'])}. The client's event"
            " loop (and the in-process sandbox's) wakes late, as in a busy service.",
            table(header, contended_rows(section)),
        ]
    )


def across_limit(section: dict[str, Any]) -> float:
    """The largest urgent p99 call time the target allows across processes."""
    return targets_of(section).p99_limit(section["interval_s"], section["latency_s"])


def across_target_rows(section: dict[str, Any]) -> list[tuple[object, ...]]:
    """The cross-process targets: the target, the figure, met or missed."""
    targets = section["targets"]
    met = met_across(section, targets_of(section))
    return [
        (
            f"urgent calls' p99 ≤ {targets['p99_intervals']:g} intervals + latency"
            f" = {across_limit(section):.3f} s",
            f"{section['urgent_call_p99_s']:.3f} s",
            verdict(met["p99"]),
        ),
        (
            f"combined achieved/allowed ≥ {targets['efficiency']:g}",
            f"{section['efficiency']:.3f}",
            verdict(met["efficiency"]),
        ),
        (
            "nothing lost or registered twice",
            f"{section['lost']} lost, {section['duplicated']} twice",
            verdict(met["lost"]),
        ),
    ]


def multiprocess_section(section: dict[str, Any]) -> str:
    """Urgent calls in one process beside backfilling ones, sharing Redis."""
    interval = section["interval_s"]
    setting = (
        f"{section['backfills']} processes register {section['backfill_orders']:,} orders"
        " between them with `create_many` (bulk), while a third makes an urgent create every"
        f" {section['every']:g} s ({section['urgent_calls']} in all); all three share one"
        " `RedisRateLimiter` key, the server answering after"
        f" {milliseconds(section['latency_s'])} (one pacing interval is"
        f" {milliseconds(interval)}). The urgent calls waited {section['urgent_wait_p50_s']:.3f} s"
        f" for budget at the median ({section['urgent_wait_p50_intervals']:.1f} intervals) and"
        f" {section['urgent_wait_p99_s']:.3f} s at p99"
        f" ({section['urgent_wait_p99_intervals']:.1f} intervals; the longest"
        f" {section['urgent_wait_max_intervals']:.1f}); from call to answer, latency included,"
        f" {section['urgent_call_p99_s']:.3f} s at p99. Together the processes sent"
        f" {section['requests']:,} requests, {section['rejected_429']:,}"
        f" ({section['share_429']:.2%}) answered 429; {section['failed']} calls failed."
    )
    return "\n\n".join(
        [
            setting,
            table(("target", "measured", ""), across_target_rows(section), numbers=False),
        ]
    )


def _across_rows(results: dict[str, Any]) -> list[tuple[object, ...]]:
    section = results.get("multiprocess")
    if section is None:
        return []
    return [("three processes sharing Redis", *row) for row in across_target_rows(section)]


def _latency_rows(results: dict[str, Any]) -> list[tuple[object, ...]]:
    section = results.get("comparison")
    if section is None:
        return []
    target = section["target"]
    rows: list[tuple[object, ...]] = []
    for latency in target["latencies"]:
        run = _pick(section, "client", 0, latency)
        met = meets_latency_target(run, target["efficiency"])
        rows.append(
            (
                f"client alone, {milliseconds(latency)} of latency",
                f"achieved/allowed ≥ {target['efficiency']:g}, no 429",
                f"{run['efficiency']:.3f}, {run['rejected_429']} 429s",
                verdict(met),
            )
        )
    return rows


def _contended_rows(results: dict[str, Any]) -> list[tuple[object, ...]]:
    section = results.get("contended")
    if section is None:
        return []
    run = next(r for r in section["runs"] if r["strategy"] == "client")
    return [
        (
            f"client, {section['burners']} CPU burners, {milliseconds(section['latency'])} of"
            " latency",
            f"achieved/allowed ≥ {section['target']:g}",
            f"{run['efficiency']:.3f}",
            verdict(meets_target(run, section["target"])),
        )
    ]


def _urgent_rows(results: dict[str, Any]) -> list[tuple[object, ...]]:
    section = results.get("urgent")
    if section is None:
        return []
    return [
        (f"one process, `{run['mode']}` backfill", *row)
        for run in client_runs(section)
        for row in urgent_target_rows(section, run)
    ]


def targets_section(results: dict[str, Any]) -> str:
    """Every acceptance target the results measure, with the figure and how it fared."""
    rows = (
        _urgent_rows(results)
        + _across_rows(results)
        + _latency_rows(results)
        + _contended_rows(results)
    )
    if not rows:
        return "No section with an acceptance target was measured in this run."
    return table(("scenario", "target", "measured", ""), rows, numbers=False)


def method(results: dict[str, Any]) -> str:
    """The method's bullets for the pacing sections the results hold."""
    bullets = []
    if (comparison := results.get("comparison")) is not None:
        latencies = ", ".join(milliseconds(x) for x in latencies_of(comparison))
        shares = sorted({run["competing"] for run in comparison["runs"]})
        bullets.append(
            f"- **Against the competent baseline.** The client and the competent baseline"
            f" each gather {comparison['orders']} creates, alone and beside a competing"
            f" integration that spends {shares[-1]} of every window the moment it opens, with"
            f" the server answering after {latencies} (the sandbox's"
            " `Faults(latency=1.0, latency_seconds=...)`). The client's `max_concurrency` is"
            " the default, or twice the requests in flight at the allowed rate where that is"
            f" more ({client_caps(comparison)}): the time-scaled window's"
            f" {comparison['window']['requests']} a second keep more requests in flight than"
            " the store's 2.5, which keep under one even at 250 ms. The baseline has no cap"
            " but aiohttp's connection limit."
            f" `python -m bench.budget --orders {comparison['orders']} --strategy client"
            " --strategy competent --competing N --latency S`."
        )
    if (urgent := results.get("urgent")) is not None:
        bullets.append(
            f"- **Urgent calls during a backfill.** One process, one client: a backfill of"
            f" {urgent['orders']:,} orders, once as `create_many` (bulk by default) and once as"
            ' an `asyncio.gather` of creates started inside `with client.priority("bulk"):`,'
            f" with one default-priority `client.orders.create(...)` every {urgent['every']:g} s"
            f" beside it, the server answering after {milliseconds(urgent['latency'])}; then"
            " the same with the competent baseline, which has no priorities."
            f" `python -m bench.urgent --orders {urgent['orders']}"
            f" --latency {urgent['latency']:g}`."
        )
    if (across := results.get("multiprocess")) is not None:
        bullets.append(
            "- **Urgent calls across processes.** The sandbox, a throwaway `redis-server` and"
            f" three processes sharing one `RedisRateLimiter` key: {across['backfills']} each"
            f" register {across['backfill_orders'] // across['backfills']:,} orders with"
            " `create_many` (bulk), the third makes an urgent create every"
            f" {across['every']:g} s until they end. Waits for budget are the client's own"
            " (`client.stats.budget_wait` across each call); **combined achieved/allowed** is"
            " `bench.multiprocess`'s measure: the requests accepted between the backfills'"
            " first and last arrivals, per second, over the allowed rate."
            " `python -m bench.multiprocess urgent"
            f" --orders {across['backfill_orders'] // across['backfills']}`."
        )
    if (contended := results.get("contended")) is not None:
        bullets.append(
            f"- **CPU contention.** While {contended['burners']} processes spin on the cores,"
            f" the client and the competent baseline each gather {contended['orders']} creates"
            f" at {milliseconds(contended['latency'])} of server latency; the client's figures"
            " come from `bench.ratelimit.measure_efficiency`, over whole windows as above."
            f" `python -m bench.contention --orders {contended['orders']}`."
        )
    return "".join("\n" + bullet for bullet in bullets)
