"""`python -m eval COMMAND [options]`: see eval.cli."""

from eval.cli import main

if __name__ == "__main__":
    main()
