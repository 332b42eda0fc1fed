"""`python -m durable_effect serve MODULE:ATTR`: the `durable-effect` command."""

from durable_effect.cli import main

if __name__ == "__main__":
    main()
