"""The contracts of the inputs and outputs (pandera), and how problems are reported.

Importing pandera imports PySpark's pandas API whenever PySpark is installed (the
spark extra), which warns about the pandas version on every run although no pandas
crosses there: that one warning is silenced here, before any contract is imported.
"""

import warnings

warnings.filterwarnings(
    "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
)
