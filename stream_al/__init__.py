"""stream-al: streaming active learning for NLP.

Pure cores (embed, learn, score, select, index, drift) with thin shells (simulate, stream, cli).
"""

__version__ = "0.1.0"
