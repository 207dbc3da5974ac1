"""``python -m dexkit``: the ``dexkit`` command."""

from dexkit.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
