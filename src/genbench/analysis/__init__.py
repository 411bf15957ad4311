"""Analyses of a trained image model beyond scores: latent interpolation and traversal,
t-SNE of latents or features, out-of-distribution probes. Each writes its figures into
the run folder and returns any numbers it measured."""
