"""`python -m sarclip_jax.cli ...`: the `sarclip` command without its installed entry point."""

import sys

from sarclip_jax.cli import main

if __name__ == "__main__":
    sys.exit(main())
