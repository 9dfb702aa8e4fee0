"""The bounded load run: twice the measured capacity on 127.0.0.1, with faults injected."""
