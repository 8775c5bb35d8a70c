"""Selection over a 10,000-asset graph: each expression parsed and resolved (kubeasset.selection, pure, no
cluster), timed over repetitions on a warm graph index, plus the first resolution on a fresh graph (which
builds the index) and the graph's construction. Two shapes: 100 chains of 100 assets (10 groups, tags,
owners, kinds) and one chain of 10,000 (the deepest traversal).

    python bench/selection.py [--small] [--assets 10000] [--repeat 20]

Target (issue 7): any expression resolved <= 50 ms.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from types import MappingProxyType

from benchkit.figures import Target, print_figures, print_header, print_value

from kubeasset.graph import AssetGraph, AssetKey, AssetSpec
from kubeasset.selection import prepare_index, resolve_selection


def chains(count: int, length: int) -> AssetGraph:
    specs = []
    for i in range(count):
        deps = (AssetKey(f"n{i - 1}"),) if i % length else ()
        specs.append(
            AssetSpec(
                AssetKey(f"n{i}"),
                deps=deps,
                group_name=f"g{i * 10 // count}",
                tags=MappingProxyType(
                    {"tier": ("gold", "silver", "bronze")[i % 3], **({"pii": ""} if i % 7 == 0 else {})}
                ),
                owners=(f"team:t{i % 5}",),
                kinds=frozenset({"python"} if i % 2 else {"python", "csv"}),
            )
        )
    return AssetGraph(specs)


def expressions(count: int) -> list[str]:
    last, middle = count - 1, count // 2
    keys = " or ".join(f"key:n{i}" for i in range(0, count, max(1, count // 100)))
    return [
        "*",
        f"key:n{middle}",
        'key:"n5*"',
        "group:g3",
        'group:"g*"',
        "tag:tier=gold",
        "tag:pii",
        'owner:"team:t2"',
        "kind:csv",
        f"+key:n{last}",
        "key:n0+",
        f"2+key:n{middle}+2",
        f"+key:n{middle}+",
        "roots(*)",
        "sinks(group:g9)",
        "group:g1+ and not tag:tier=gold",
        "(group:g1 or group:g2)+2 and kind:csv",
        'not (tag:tier=bronze or owner:"team:t1")',
        keys,
        f"n{middle}*",  # the legacy form
    ]


def timed(action: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="a smoke run: 3 repetitions")
    parser.add_argument("--assets", type=int, default=10_000, help="assets in the graph (default 10000)")
    parser.add_argument("--repeat", type=int, help="repetitions per expression (default 20; 3 with --small)")
    args = parser.parse_args()
    repeat = args.repeat or (3 if args.small else 20)
    print_header(
        f"selection over a {args.assets}-asset graph",
        {"method": f"resolve_selection(text, graph) x {repeat} per expression, perf_counter"},
    )
    all_warm: list[float] = []
    for shape, length in (("100 chains of 100", 100), (f"one chain of {args.assets}", args.assets)):
        build, graph = timed(lambda length=length: chains(args.assets, length))
        assert isinstance(graph, AssetGraph)
        print(f"  -- {shape}")
        print_value("graph construction (AssetGraph of specs)", build * 1000, "ms")
        cold, _ = timed(lambda graph=graph: resolve_selection("key:n0", graph))
        print_value("first resolution on a fresh graph, building the index lazily (for comparison)", cold * 1000, "ms")
        fresh = chains(args.assets, length)
        prepared, _ = timed(lambda fresh=fresh: prepare_index(fresh))
        print_value("prepare_index (the controller does it once, when it builds the graph)", prepared * 1000, "ms")
        first, _ = timed(lambda fresh=fresh: resolve_selection("key:n0", fresh))
        print_value("first resolution after prepare_index", first * 1000, "ms", 50.0)
        prepare_index(graph)  # the lazy resolution above built only the parts "key:n0" needed
        worst: list[tuple[float, str, int]] = []
        for text in expressions(args.assets):
            samples = []
            selected = 0
            for _ in range(repeat):
                took, keys = timed(lambda text=text, graph=graph: resolve_selection(text, graph))
                samples.append(took)
                selected = len(keys)  # type: ignore[arg-type]
            all_warm.extend(samples)
            worst.append((max(samples), text, selected))
        worst.sort(reverse=True)
        for took, text, selected in worst[:5]:
            shown = text if len(text) <= 60 else text[:57] + "..."
            print(f"     slowest: {took * 1000:7.2f} ms max  {selected:6d} keys  {shown}")
    print_figures("any expression, warm index (both shapes)", all_warm, targets=(Target("max", 0.050),))


if __name__ == "__main__":
    main()
