"""Corpus WER/CER of predicted transcripts against references.

python calc_metrics.py --predictions_dir P --transcriptions_dir T [--json]
"""

import sys

from src.metrics.calc_metrics import main

if __name__ == "__main__":
    sys.exit(main())
