"""``python -m stprompt ...`` is the ``stprompt`` command (:mod:`stprompt.run.cli`); it also lets
``torchrun --nproc_per_node=N -m stprompt extract --profile P`` start one extraction rank per GPU."""

import sys

from .run.cli import main

if __name__ == "__main__":
    sys.exit(main())
