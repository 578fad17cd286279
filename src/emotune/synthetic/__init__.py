"""The embedded benchmark: FindingEmo-like images, songs with audio, clips, the rehearsal download."""
