"""The top floor: what an operator starts. The command line (cli/), the console's Textual
App (tui), the controllers that run its errands (controllers/), the guided setup (setup/)
and the process entry point (entry). It may import every floor below; none imports it."""
