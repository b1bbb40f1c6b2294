"""Domains: the axis of the experiment. A domain is a dataset as a model sees it, optionally
corrupted or at another test size; its kind is its dataset's `kind`, and its protocol that kind's
(or, for a kind converted into another's encoding, that other kind's: `protocol`)."""

from __future__ import annotations

from segshift import corruptions
from segshift.errors import SegshiftError


class DomainError(SegshiftError):
    pass


def suite_domain_name(domain: str, corruption: str, severity: int) -> str:
    return f"{domain}-{corruption}-{severity}"


def expand(config: dict, source: str = "config") -> dict[str, dict]:
    """Every domain with its fields filled in: dataset, corruption (or None), test_size, suite (or None)."""
    explicit = config.get("domains") or {name: {"dataset": name} for name in config["datasets"]}
    domains = {}
    for name, entry in explicit.items():
        domains[name] = {"dataset": entry["dataset"], "corruption": entry.get("corruption"),
                         "test_size": entry.get("test_size"), "suite": None, "label": entry.get("label")}
        _check_domain(config, name, domains[name], f"{source}: domains.{name}")
    for suite, entry in (config.get("corruption_suites") or {}).items():
        key = f"{source}: corruption_suites.{suite}"
        base = entry["domain"]
        if base not in domains or domains[base]["suite"] is not None:
            raise DomainError(f"{key}.domain is {base!r}, which is not a domain (domains: {', '.join(explicit)})")
        if domains[base]["corruption"]:
            raise DomainError(f"{key}.domain is {base!r}, which is corrupted already; name a clean domain")
        names = entry.get("corruptions", "benchmark")
        names = corruptions.SETS[names] if isinstance(names, str) else names
        for corruption in names:
            _check_corruption(corruption, f"{key}.corruptions")
        for severity in entry.get("severities", list(corruptions.SEVERITIES)):
            _check_severity(severity, f"{key}.severities")
            for corruption in names:
                name = suite_domain_name(base, corruption, severity)
                if name in domains:
                    raise DomainError(f"{key} makes domain {name!r}, which is declared twice; rename one of them")
                domains[name] = {"dataset": domains[base]["dataset"], "corruption": {"name": corruption, "severity": severity},
                                 "test_size": domains[base]["test_size"], "suite": suite, "label": None}
    return domains


def _check_domain(config: dict, name: str, domain: dict, key: str) -> None:
    if domain["dataset"] not in config["datasets"]:
        raise DomainError(f"{key}.dataset is {domain['dataset']!r}, which is not under datasets "
                          f"(datasets: {', '.join(config['datasets'])})")
    if domain["corruption"]:
        _check_corruption(domain["corruption"]["name"], f"{key}.corruption.name")
        _check_severity(domain["corruption"]["severity"], f"{key}.corruption.severity")


def _check_corruption(name: str, key: str) -> None:
    if name not in corruptions.NAMES:
        raise DomainError(f"{key}: unknown corruption {name!r}; use one of {', '.join(corruptions.NAMES)}")


def _check_severity(severity: int, key: str) -> None:
    if severity not in corruptions.SEVERITIES:
        raise DomainError(f"{key}: severity {severity} is outside 1-5")


def default_source(config: dict, domains: dict[str, dict]) -> str:
    """The first clean domain of a coco dataset; else the first clean domain."""
    clean = [name for name, domain in domains.items() if not domain["corruption"]]
    for name in clean:
        if config["datasets"][domains[name]["dataset"]]["kind"] == "coco":
            return name
    if not clean:
        raise DomainError("config: no clean domain to be the source: add one under domains and name it in source")
    return clean[0]


def kind(config: dict, domain: str) -> str:
    return config["datasets"][config["domains"][domain]["dataset"]]["kind"]


# A kind scored as another kind is: ACDC's ground truth is converted into Cityscapes' label ids and
# instanceIds, so its protocol (official and the same ruler) is Cityscapes'.
PROTOCOLS = {"acdc": "cityscapes"}


def protocol(config: dict, domain: str) -> str:
    """The kind whose protocol scores a domain: its own kind, or the kind its reader converts it into."""
    k = kind(config, domain)
    return PROTOCOLS.get(k, k)


def clean_of(config: dict, domain: str) -> str | None:
    """The clean domain with the same dataset and test size as a corrupted one (the severity-0 point)."""
    entry = config["domains"][domain]
    for name, other in config["domains"].items():
        if not other["corruption"] and other["dataset"] == entry["dataset"] and other["test_size"] == entry["test_size"]:
            return name
    return None


def suites(config: dict) -> dict[str, dict]:
    """Each corruption suite: its clean domain, corruptions, severities and member domains."""
    out = {}
    for suite, entry in config.get("corruption_suites", {}).items():
        members = {name: d for name, d in config["domains"].items() if d["suite"] == suite}
        out[suite] = {
            "domain": entry["domain"],
            "corruptions": list(dict.fromkeys(d["corruption"]["name"] for d in members.values())),
            "severities": sorted({d["corruption"]["severity"] for d in members.values()}),
            "members": members,
        }
    return out


def label(config: dict, domain: str) -> str:
    """How a domain is named in figures, tables and files alike: its config `label`, else its name."""
    return config["domains"][domain].get("label") or domain
