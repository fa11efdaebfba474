"""The pure domain core: no I/O, no clock reads. Callers pass `today` and rows."""
