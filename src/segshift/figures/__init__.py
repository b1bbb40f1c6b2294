"""Figures of the metric files: PNG for the report, PDF for papers.

One palette everywhere, colour-blind safe (Okabe & Ito): the source is always blue, each
target keeps the colour of its place in the config in every figure, models theirs.
Values are AP points (x100), as in the tables. One module per family of figures on a shared style;
every public name is importable from here.
"""

from segshift.figures.across_models import effective_robustness, family_colors, synthetic_vs_real  # noqa: F401
from segshift.figures.corruptions import severity_curves, suite_figure  # noqa: F401
from segshift.figures.diagnostics import ERROR_COLORS, MIN_BIN_DETECTIONS, boundary_ap, confusion, errors, reliability  # noqa: F401
from segshift.figures.ranking import cliques, critical_difference  # noqa: F401
from segshift.figures.slices import slices  # noqa: F401
from segshift.figures.style import (  # noqa: F401
    IOU_TYPE,
    OKABE_ITO,
    POLICY_NAMES,
    SOURCE_COLOR,
    TARGET_COLORS,
    class_ids,
    domain_colors,
    model_colors,
    save,
    shared_classes,
)
from segshift.figures.transfer import (  # noqa: F401
    SIZES,
    ap_by_size,
    model_pair,
    per_class_ap,
    pr_curves,
    size_shares,
    transfer_gap,
)
