"""``govconnect civil-affairs …``: tools for the social-assistance case system's drop folder."""

from __future__ import annotations

from pathlib import Path

import typer

from .sample import write_sample_drop

civil_affairs_app = typer.Typer(
    help="Social-assistance case system (社会救助案件管理系统) tools.", no_args_is_help=True
)


@civil_affairs_app.command("seed")
def seed(
    drop_dir: Path = typer.Option(
        Path(".govconnect/civil-affairs-drop"), "--dir", help="Drop folder to fill."
    ),
    count: int = typer.Option(120, "--count", min=1, help="Cases to write."),
    per_file: int = typer.Option(50, "--per-file", min=1, help="Cases per drop file."),
    seed_value: int = typer.Option(11, "--seed", help="Random seed (same seed, same files)."),
) -> None:
    """Write sample fixed-width GB18030 drop files, as the case system does at night."""
    written = write_sample_drop(drop_dir, count=count, per_file=per_file, seed=seed_value)
    typer.echo(f"wrote {written} cases to {drop_dir}")
