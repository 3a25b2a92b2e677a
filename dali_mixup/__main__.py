"""``python -m dali_mixup COMMAND ...``: see ``dali_mixup.cli``."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
