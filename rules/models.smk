# Model checkpoints from the Hugging Face hub: fetched once, at a pinned revision, never by an
# inference job (URL weights: download_weights in data.smk).


rule download_hub_weights:
    output:
        weights=directory("resources/weights/{model}"),
        sha256="resources/weights/{model}.sha256",
    log:
        "logs/download_hub_weights/{model}.log",
    wildcard_constraints:
        model=alternatives(HUB_MODELS),
    retries: 2
    localrule: True
    conda:
        "../envs/infer.yaml"
    params:
        hub=weights_hub,
        sha256=weights_sha256,
    script:
        "../workflow/scripts/download_hub_weights.py"
