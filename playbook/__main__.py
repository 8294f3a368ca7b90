"""`python -m playbook` is the `playbook` command."""

from playbook.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
