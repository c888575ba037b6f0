"""`purecredit applications draw|run` and `purecredit simulate`: batches of applications,
through the counter or through policies side by side (`purecredit.decide.applications`,
`purecredit.decide.simulate`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter
from rich.table import Table

from purecredit.cli.progress import console, fail, steps
from purecredit.core.errors import PurecreditError
from purecredit.core.settings import get_settings
from purecredit.decide.applications import asks_for, outlets_of, run_asks, write_asks
from purecredit.decide.counter import Counter
from purecredit.decide.policy import load_policy
from purecredit.decide.simulate import simulate as run_simulation

app = typer.Typer(help="Batches of applications: draw a month of them, run them.",
                  no_args_is_help=True)  # fmt: skip

Source = Annotated[
    str, typer.Argument(help="A file of applications (JSON lines) or a month YYYY-MM.")
]
Count = Annotated[
    int | None, typer.Option("--count", help="How many to draw for a month (default: usual).")
]
County = Annotated[
    Path | None, typer.Option("--county", help="The synthetic county (default: the demo's).")
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _asks(counter: Counter, source: str, county: Path | None, count: int | None) -> list[Any]:
    as_of = counter.profiles["person"].as_of()
    return asks_for(source, county or counter.settings.county_path, outlets_of(counter),
                    count=count, from_day=as_of)  # fmt: skip


@app.command()
def draw(
    month: Annotated[str, typer.Argument(help="The month, YYYY-MM.")],
    out: Annotated[Path, typer.Option("--out", help="File to write (JSON lines).")],
    count: Count = None,
    county: County = None,
) -> None:
    """Draw a month of the county's walk-in applications into a file."""
    try:
        counter = Counter(get_settings())
        n = write_asks(out, _asks(counter, month, county, count))
    except PurecreditError as exc:
        fail(exc)
    console.print(f"{n} applications written to {out}")


@app.command()
def run(
    source: Source, count: Count = None, county: County = None, as_json: AsJson = False
) -> None:
    """Send applications through the counter: each decided, granted and stored as if typed
    at its branch when it was received."""
    try:
        counter = Counter(get_settings())
        asks = _asks(counter, source, county, count)
    except PurecreditError as exc:
        fail(exc)
    with steps("applications", len(asks)) as advance:
        counts = run_asks(counter, asks, advance)
    if as_json:
        typer.echo(json.dumps(counts))
    else:
        console.print(", ".join(f"{k} {v}" for k, v in sorted(counts.items())))


def simulate(
    policy: Annotated[str, typer.Option("--policy", help="Packaged policy name or YAML file.")],
    applications: Annotated[
        str, typer.Option("--applications", help="File of applications or a month YYYY-MM.")
    ],
    vs: Annotated[str | None, typer.Option("--vs", help="A second policy, side by side.")] = None,
    count: Count = None,
    county: County = None,
    chart: Annotated[
        Path | None, typer.Option("--chart", help="Also draw the default-rate chart (PNG).")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Run policies over applications: per product and grade, approval, limits, rates,
    expected loss and, played forward in the synthetic world, realised defaults and NPL,
    beside a policy that knew the true PD."""
    settings = get_settings()
    try:
        policies = [load_policy(policy)] + ([load_policy(vs)] if vs else [])
        counter = Counter(settings)
        asks = _asks(counter, applications, county, count)
        where = county or settings.county_path
        with steps("simulating", len(asks) * len(policies)) as advance:
            result = run_simulation(counter, asks, policies,
                                    where if (where / "manifest.json").is_file() else None,
                                    advance)  # fmt: skip
    except PurecreditError as exc:
        fail(exc)
    if chart is not None:
        if result["frontier"] is None:
            console.print("[yellow]no chart: the applications were not played forward[/yellow]")
        else:
            _chart(result, chart)
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False, indent=2))
        return
    _show(result)


def _chart(result: dict[str, Any], path: Path) -> None:
    """Realised default rate against approval rate: the model's ranking, the true PD's, and
    each policy where it stands."""
    figure = Figure(figsize=(7, 4.5), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    curve = result["frontier"]
    for name, label, style in (("model", "ranked by the model's PD", "-"),
                               ("true_pd_12m", "ranked by the true PD", "--")):  # fmt: skip
        axes.plot(curve["approval_rate"], curve[name], style, label=label)
    for r in result["policies"]:
        figures = r["all"]
        axes.scatter([figures["approval_rate"]], [figures["realised_default_rate"]], zorder=3,
                     label=f"policy {r['policy']}")  # fmt: skip
    axes.set_xlabel("approval rate")
    axes.set_ylabel("realised 12-month default rate of approved")
    axes.xaxis.set_major_formatter(PercentFormatter(1.0))
    axes.yaxis.set_major_formatter(PercentFormatter(1.0))
    axes.grid(alpha=0.3)
    axes.legend()
    figure.savefig(path, format="png", dpi=110, metadata={"Software": None})


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _share(part: int, whole: int) -> float | None:
    return None if whole == 0 else part / whole


def _grade_order(grade: str) -> tuple[int, str]:
    return (int(grade), "") if grade.isdigit() else (10**6, grade)


def _show(result: dict[str, Any]) -> None:
    console.print(
        f"{result['simulated']} applications simulated of {result['applications']} "
        f"(repeats {result['repeats']}, errors {sum(result['errors'].values())}); "
        + (
            "played forward to " + str(result["world_until"])
            if result["played_forward"]
            else "not played forward: the world ends too soon or there is no county"
        )
    )
    policies = result["policies"]
    products = sorted({p for r in policies for p in r["by_product"]})
    for product in products:
        table = Table(title=product)
        for column in ("grade", "policy", "n", "approve", "refer", "avg limit", "rate", "EL",
                       "default", "NPL"):  # fmt: skip
            table.add_column(column, justify="left" if column in ("grade", "policy") else "right")
        grades = {g for r in policies for g in r["by_grade"].get(product, {})}
        for grade in [*sorted(grades, key=_grade_order), "all"]:
            for r in policies:
                if grade == "all":
                    f = r["by_product"].get(product)
                else:
                    f = r["by_grade"].get(product, {}).get(grade)
                if f is None:
                    continue
                table.add_row(
                    grade,
                    r["policy"],
                    str(f["applications"]),
                    _pct(f["approval_rate"]),
                    _pct(_share(f["referred"], f["applications"])),
                    "-" if f["average_limit"] is None else f"{f['average_limit']:,}",
                    _pct(f["average_rate"]),
                    _pct(f["expected_loss_rate"]),
                    _pct(f.get("realised_default_rate")),
                    _pct(f.get("npl_ratio")),
                )
        console.print(table)
    for r in policies:
        if "true_pd_12m" in r:
            t = r["true_pd_12m"]
            console.print(
                f"{r['policy']}: approves {_pct(r['all']['approval_rate'])}, realised default "
                f"{_pct(r['all'].get('realised_default_rate'))}, NPL "
                f"{_pct(r['all'].get('npl_ratio'))}; knowing the true PD at the same rate: "
                f"default {_pct(t['realised_default_rate'])}, NPL {_pct(t['npl_ratio'])}"
            )
