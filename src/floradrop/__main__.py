from floradrop.cli import main

raise SystemExit(main())
