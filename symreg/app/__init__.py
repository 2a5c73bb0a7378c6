"""Terminal application: the typer CLI, rich progress and tables, plots, the batch-job store."""
