"""``sparse-hw arch list|show``: the built-in architectures."""

from __future__ import annotations

import typer

from ._common import console, handle_errors


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="The built-in architectures (arch/NAME).", no_args_is_help=True)

    @group.command("list")
    @handle_errors
    def list_cmd() -> None:
        """One line per architecture: name, PEs, which sparsity it exploits."""
        from ..spec.library import list_architectures

        infos = list_architectures()
        width = max((len(a.name) for a in infos), default=4)
        for a in infos:
            typer.echo(f"{a.name:<{width}}  {a.pes:>4} PEs  exploits: {a.exploits_text:<15}  {a.description}")

    @group.command("show")
    @handle_errors
    def show_cmd(
        name: str = typer.Argument(..., help="Architecture name (see `sparse-hw arch list`)."),
    ) -> None:
        """The architecture tree: instances, capacities, formats and sparse optimizations per level."""
        from rich.tree import Tree

        from ..spec.library import architecture_info, load_architecture
        from ..spec.summary import level_rows

        info = architecture_info(name)
        spec = load_architecture(name)
        root = Tree(f"[bold]{name}[/bold]: {info.pes} PEs, exploits {info.exploits_text}  ({info.folder})")
        node = root
        for row in level_rows(spec):
            cap = f", {row['capacity']}" if "capacity" in row else ""
            md = f", metadata {row['metadata_bits']:,} b" if row.get("metadata_bits") else ""
            keeps = ""
            if row.get("keeps") is not None:
                keeps = f", keeps {', '.join(row['keeps']) or 'nothing'}"
            label = (
                f"[bold]{row['name']}[/bold] ({row['class']}) x{row['instances']:,} "
                f"[{row['mesh']}]{cap}{md}{keeps}"
            )
            node = node.add(label)
            for line in row["sparse"]:
                node.add(f"[cyan]{line}[/cyan]")
        console.print(root)
        if info.description:
            console.print(info.description)

    app.add_typer(group, name="arch")
