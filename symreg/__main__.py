"""``python -m symreg`` runs the terminal application."""

from symreg.app.cli import main

if __name__ == "__main__":
    main()
