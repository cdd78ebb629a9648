"""``govconnect household …``: tools for the household-registration legacy system."""

from __future__ import annotations

import time

import typer
from sqlalchemy.engine import make_url

from .sample import create_sample_database

household_app = typer.Typer(
    help="Household-registration (户籍) legacy system tools.", no_args_is_help=True
)


@household_app.command("seed")
def seed(
    url: str = typer.Option(
        "sqlite:///.govconnect/household.sqlite",
        "--url",
        help="SQLAlchemy URL of the legacy database.",
    ),
    count: int = typer.Option(5000, "--count", min=1, help="Residents to create."),
    seed_value: int = typer.Option(7, "--seed", help="Random seed (same seed, same rows)."),
    invalid: int = typer.Option(0, "--invalid", min=0, help="Residents with a corrupted ID."),
    table: str = typer.Option("hj_resident", "--table", help="Legacy table name."),
) -> None:
    """Create and fill a sample household-registration database (drops the table first)."""
    if invalid > count:
        raise typer.BadParameter("--invalid cannot exceed --count", param_hint="--invalid")
    started = time.perf_counter()
    rows = create_sample_database(url, count=count, seed=seed_value, invalid=invalid, table=table)
    typer.echo(
        f"created {rows} residents in {table} at {make_url(url).render_as_string(hide_password=True)} in {time.perf_counter() - started:.1f}s"
    )
    # an installed connector runs only once configured: say how, so `publish --all` uses it
    typer.echo(
        f"to use it: GOVCONNECT_HOUSEHOLD_URL={make_url(url).render_as_string(hide_password=True)}"
        + (f" GOVCONNECT_HOUSEHOLD_TABLE={table}" if table != "hj_resident" else "")
        + " (or a [connectors.household] section in govconnect.toml)",
        err=True,
    )
