"""Peers of stream-al in one harness: the same stream order, split, embeddings, label budget
and label delay as ``stream_al.simulate``, so that their figures can sit beside stream-al's.

A peer is a *selector* (what to ask: one module per family) joined to a *learner* (what
learns from the labels: :mod:`benchmarks.peers.learners`) by :func:`harness.run_peer`, the
one loop. Every selector sees the stream in the simulator's chunks, with the model frozen
for a chunk as the simulator freezes its snapshot, and every purchase goes through one
budget ledger (:class:`stream_al.select.budget.Budget`): a peer that asks for more than the
allowance accrued so far is cut there, so no peer buys more labels than stream-al may.
"""

from benchmarks.peers.harness import PEERS, RunResult, make_peer, run_peer

__all__ = ["PEERS", "RunResult", "make_peer", "run_peer"]
