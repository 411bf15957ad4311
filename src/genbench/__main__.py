from genbench.cli import main

raise SystemExit(main())
