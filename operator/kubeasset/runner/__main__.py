"""Makes ``python -m kubeasset.runner`` run the runner's command line."""

from kubeasset.runner.main import main

raise SystemExit(main())
