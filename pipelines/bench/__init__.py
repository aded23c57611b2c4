"""Benchmarks: synthetic deliveries at any size (`synth`) and the pipeline against hand-written SQL (`bench`)."""
