"""The notebook: its own code (`reference`, the reference the tests compare against) and the
drop-in functions that replace it (`dropins`, `sharded`)."""
