"""Metric tables: tidy CSV (one row per model, dataset, class, metric) and the paper's layouts in
Markdown and LaTeX (booktabs). Values are fractions in the CSV and AP points (x100) in the layouts.

One module per family of tables on a shared layout core; every public name is importable from here.
"""

from segshift.tables.across_models import (  # noqa: F401
    EFFECTIVE_ROBUSTNESS_COLUMNS,
    SYNTHETIC_VS_REAL_COLUMNS,
    across_models_resamples,
    effective_robustness_table,
    shifts,
    synthetic_vs_real_table,
    target_population,
)
from segshift.tables.comparison import COMPARISON_COLUMNS, comparison_table  # noqa: F401
from segshift.tables.diagnostics import (  # noqa: F401
    CALIBRATION_COLUMNS,
    CONFUSION_COLUMNS,
    CONFUSION_PAIRS,
    ERROR_COLUMNS,
    ERROR_SHORT,
    boundary_files,
    boundary_table,
    calibration_table,
    confusion_table,
    errors_table,
)
from segshift.tables.gaps import GAP_COLUMNS, MATRIX_COLUMNS, gap_values, transfer_gap_table, transfer_matrix  # noqa: F401
from segshift.tables.layout import (  # noqa: F401
    CI,
    MAX_CLASS_COLUMNS,
    TIDY_COLUMNS,
    Estimate,
    Layout,
    Ratio,
    estimate,
    interval_of,
    latex_escape,
    load_labels,
    protocol,
    summary_key,
    write,
)
from segshift.tables.protocols import cityscapes_table, coco_table  # noqa: F401
from segshift.tables.ranking import RANKING_COLUMNS, ranking_table  # noqa: F401
from segshift.tables.robustness import ROBUSTNESS_COLUMNS, mpc, robustness_table  # noqa: F401
