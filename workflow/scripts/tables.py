"""One metric table as CSV, Markdown and LaTeX."""

from pathlib import Path

from segshift import tables, workflow
from segshift.io import read_json


def main(snakemake):
    metrics = [read_json(path) for path in snakemake.input]
    name = Path(snakemake.output.csv).stem
    if name == "coco_metrics":
        tidy, layout = tables.coco_table(metrics, snakemake.params.labels, snakemake.params.score_threshold, snakemake.params.engine)
    elif name == "cityscapes_metrics":
        tidy, layout = tables.cityscapes_table(metrics, snakemake.params.labels, snakemake.params.class_mapping, snakemake.params.engine)
    else:
        tidy, layout = tables.transfer_gap_table(metrics, snakemake.params.labels)
    tables.write(Path(snakemake.output.csv).with_suffix(""), tidy, layout)


workflow.run(snakemake, main)
