"""Media I/O outside the models: video decoding (a reader thread ahead of the models) and the overlay / live window."""
