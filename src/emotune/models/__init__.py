"""LightningModules of the scene, face, fusion and music phases, and their components."""
