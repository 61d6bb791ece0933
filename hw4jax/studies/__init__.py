"""Experiments built on the library: Question 1's optimizer study.

optimizer_study   Adam, SGD, SGD with momentum and AdamW from the same start on the same
                  batches, on the CNN (the training loop's epochs, taking turns) and on
                  the 2-2-1 net.
optimizer_report  its tables and figures.
fingerprints      SHA-256 fingerprints of states and batches (same start, same data).
"""
