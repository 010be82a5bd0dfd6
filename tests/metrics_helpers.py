"""Reading metrics the way Prometheus does: the text format, parsed by prometheus_client."""

from __future__ import annotations

import urllib.request

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from coverage_net.metrics import metrics_registry


def parse(text: str) -> dict[str, list[Sample]]:
    """Family name -> its samples, checking each family's name is unique."""
    families: dict[str, list[Sample]] = {}
    for family in text_string_to_metric_families(text):
        assert family.name not in families, f"family {family.name} exposed twice"
        assert family.documentation, f"family {family.name} has no help text"
        families[family.name] = list(family.samples)
    return families


def scrape_collectors(*collectors: object) -> dict[str, list[Sample]]:
    """What a scrape of `collectors` shows, through the exposition format and back."""
    return parse(generate_latest(metrics_registry(collectors)).decode())


def scrape_url(addr: str) -> dict[str, list[Sample]]:
    """GET http://ADDR/metrics (``HOST:PORT``), parsed."""
    with urllib.request.urlopen(f"http://{addr}/metrics", timeout=30) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == CONTENT_TYPE_LATEST
        return parse(response.read().decode())


def value(families: dict[str, list[Sample]], sample: str, **labels: str) -> float:
    """The one sample called `sample` with exactly `labels`."""
    family = sample.removesuffix("_total").removesuffix("_bucket").removesuffix("_count") \
        .removesuffix("_sum")
    found = [s.value for s in families[family] if s.name == sample and s.labels == labels]
    assert len(found) == 1, (sample, labels, families[family])
    return found[0]
