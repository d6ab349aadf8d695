"""The run report: "n/a" for numbers that cannot be shown, and the report of the real end-to-end run opened in headless
Chromium with networking blocked: no request may leave the page, and every section shows the run's real values.

The browser (tests/browser.py) is driven over the DevTools protocol: the Network domain records every
request the page makes, so a script, stylesheet, font or image fetched from anywhere but the file itself is caught.
"""

import html.parser
import os
import re

import numpy as np
import pytest
from browser import leaves_the_page, open_offline
from conftest import run_kfx

from components.champion_evaluator import executor as evaluator_executor
from components.champion_evaluator import policy
from monitoring import report as report_lib
from monitoring import store as store_lib
from monitoring import summary as summary_lib
from runners.local.workspace import Workspace

SECTIONS = ("verdict", "overview", "data", "validation", "drift", "evaluation", "blessing", "push")
UNDEFINED = (float("nan"), float("inf"), float("-inf"), None, "0.5", True)


@pytest.mark.parametrize("value", UNDEFINED)
def test_numbers_that_cannot_be_shown_read_na(value):
    assert report_lib.format_number(value) == "n/a"
    assert report_lib.format_number(value, 2, signed=True) == "n/a"
    assert report_lib.format_percent(value) == "n/a"


def test_numbers_are_formatted_with_their_precision():
    assert report_lib.format_number(0.972914) == "0.9729"
    assert report_lib.format_number(np.float32(0.5), 2) == "0.50"
    assert report_lib.format_number(np.int64(11358)) == "11,358"
    assert report_lib.format_number(0.00148, signed=True) == "+0.0015"
    assert report_lib.format_number(-0.02, signed=True) == "-0.0200"
    assert report_lib.format_percent(0.3474) == "34.7%"


class _Page(html.parser.HTMLParser):
    """Text per section id, and the URLs of every src/href attribute."""

    def __init__(self, page: str):
        super().__init__()
        self.sections: dict[str, str] = {}
        self.urls: list[tuple[str, str, str]] = []  # (tag, attribute, url)
        self.images: list[str] = []  # the alt text of each img
        self._section: str | None = None
        self.feed(page)
        self.sections = {name: " ".join(text.split()) for name, text in self.sections.items()}

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "section":
            self._section = attributes.get("id", "")
            self.sections[self._section] = ""
        self.urls += [(tag, name, value or "") for name, value in attrs if name in ("src", "href", "srcset")]
        if tag == "img":
            self.images.append(attributes.get("alt", ""))

    def handle_endtag(self, tag):
        if tag == "section":
            self._section = None

    def handle_data(self, data):
        if self._section is not None:
            self.sections[self._section] += f" {data} "


def test_a_report_with_undefined_numbers_renders_na(tmp_path):
    nan, inf = float("nan"), float("inf")
    measurements = [
        {"feature": "fare", "measure": "Jensen-Shannon divergence", "value": nan, "threshold": 0.3,
         "action": "block", "over": True, "detail": ""},
        {"feature": "row count", "measure": "row count ratio", "value": None, "threshold": None,
         "action": "warn", "over": True, "detail": "fewer rows than expected"},
    ]  # fmt: skip
    summary = summary_lib.RunSummary(
        run_id="2026-01-01T00:00:00.000001",
        states={"Evaluator": "COMPLETE"},
        metrics={"auc": nan, "auc_diff": inf, "precision": 0.75, "precision_diff": nan},
        slices={
            "payment_type": [
                {"value": "Cash", "auc": None, "examples": 5},
                {"value": "Card", "auc": nan, "examples": 7},
            ]
        },
        blessed=False,
        baseline_version=1700000000,
    )
    report = report_lib.ReportData("chicago-taxi", summary, drift_measurements=measurements)
    page = _Page(report_lib.render(report))
    assert set(SECTIONS) <= set(page.sections)
    evaluation, drift = page.sections["evaluation"], page.sections["drift"]
    # value (and why), served value and change
    assert "auc n/a (the eval split holds one label class only) n/a n/a" in evaluation, evaluation
    assert "precision 0.7500 n/a n/a" in evaluation, evaluation
    assert "Cash n/a 5" in evaluation and "Card n/a 7" in evaluation, evaluation
    assert "fare Jensen-Shannon divergence n/a 0.3000 block BLOCKS" in drift, drift
    assert "row count row count ratio n/a n/a warn warns: fewer rows than expected" in drift, drift
    text = " ".join(page.sections.values())
    assert not re.search(r"\b(nan|inf|infinity)\b", text, re.IGNORECASE) and "None" not in text, text
    assert "Blessed: no: a threshold was not met" in page.sections["blessing"]
    assert "Not blessed: the served model stays" in page.sections["verdict"]
    assert (
        "not pushed: the model was not blessed (see the blessing above); served version 1700000000"
        in (page.sections["push"])
    )
    assert not [url for tag, _, url in page.urls if tag == "img"]  # nothing finite to chart


def test_the_report_opens_with_the_verdict_and_compares_per_slice_charting_only_judged_slices():
    settings = policy.Settings(policy.SUPERIORITY, margin=0.0, confidence=0.95, min_slice_size=30)
    overall = policy.Difference(0.951, 0.95, 0.001, 0.0018, 700, 2100)
    slices = [
        policy.SliceDifference("payment_type", "Cash", policy.Difference(0.90, 0.91, -0.01, 0.006, 40, 1600)),
        policy.SliceDifference("payment_type", "Card", policy.Difference(0.96, 0.95, 0.01, 0.004, 600, 400)),
        policy.SliceDifference("payment_type", "Dispute", policy.Difference(0.7, 0.5, 0.2, 0.3, 4, 8)),
    ]
    decision = policy.decide(settings, overall, slices, 17, identical=False)
    summary = summary_lib.RunSummary(
        run_id="2026-01-01T00:00:00.000002",
        states={"Evaluator": "COMPLETE", "Pusher": "COMPLETE"},
        metrics={"auc": 0.951, "auc_diff": 0.001},
        slices={"payment_type": [{"value": "Dispute", "auc": 0.7, "examples": 12}]},  # too small to chart
        blessed=False,
        reasons=[decision.reason],
        baseline_version=17,
        comparison=evaluator_executor.comparison_record(settings, decision, overall, slices, 17, False),
    )
    page = _Page(report_lib.render(report_lib.ReportData("chicago-taxi", summary)))
    verdict, evaluation = page.sections["verdict"], page.sections["evaluation"]
    assert verdict.startswith("Verdict Not blessed: the served model stays"), verdict
    assert "AUC +0.0010, 95% CI [-0.0025, +0.0045] against served version 17 (DeLong, 2,800 eval rows" in verdict
    assert "superiority needs a gain above the margin 0.0000 with the CI above 0" in verdict
    assert "Pushed version none" in verdict
    assert "the interval of the difference is DeLong's (95%)" in evaluation, evaluation
    assert "Cash 1,640 0.9000 0.9100 -0.0100 [-0.0218, +0.0018] judged" in evaluation, evaluation
    assert "Dispute 12 0.7000 0.5000 +0.2000 [-0.3880, +0.7880] listed only (n < 30 or one class)" in evaluation
    assert page.images == ["AUC change against the served model per payment_type slice, with intervals"], page.images


def test_the_verdict_names_the_gate_that_stopped_the_run():
    summary = summary_lib.RunSummary(
        run_id="2026-01-01T00:00:00.000003",
        states={"WindowExampleGen": "COMPLETE", "DriftGate": "COMPLETE", "DriftStop": "FAILED"},
    )
    verdict = _Page(report_lib.render(report_lib.ReportData("chicago-taxi", summary))).sections["verdict"]
    assert verdict.startswith("Verdict Stopped at DriftStop: nothing was pushed"), verdict
    assert "Stopped by DriftStop: the newest span drifted past a blocking threshold (see Drift)" in verdict
    assert "no comparison: the Evaluator did not run" in verdict and "Pushed version none" in verdict


def test_the_browser_check_catches_a_page_that_loads_from_the_network(tmp_path):
    """The control: the same check on a page with a remote image and stylesheet must see both requests fail."""
    page = tmp_path / "online.html"
    page.write_text(
        '<html><head><link rel="stylesheet" href="https://example.com/style.css"></head>'
        '<body><img src="http://203.0.113.7/pixel.png"><p id="text">hello</p></body></html>'
    )
    dom, requested, failed = open_offline(str(page), str(tmp_path / "profile"))
    assert 'id="text"' in dom
    assert set(leaves_the_page(requested)) == {"https://example.com/style.css", "http://203.0.113.7/pixel.png"}
    assert len(failed) == 2, failed


def _first_run_facts(stdout: str) -> dict[str, str]:
    """What `kfx run` printed about its run: id, AUC, pushed version and train rows."""
    patterns = {
        "run_id": r"^Run (\S+)",
        "auc": r"Evaluation:\s+auc (\d\.\d{4})",
        "pushed": r"Pushed:\s+version (\d+)",
        "train_rows": r"Examples:\s+train (\d[\d,]*\d)",
    }
    return {name: re.search(pattern, stdout, re.MULTILINE).group(1) for name, pattern in patterns.items()}


@pytest.mark.e2e
def test_report_of_the_real_run_is_offline_and_shows_its_values(e2e_project, e2e_first_run, tmp_path):
    facts = _first_run_facts(e2e_first_run.stdout)
    # The first version pushed in the workspace (the end-to-end tests may push later ones).
    pushed = os.listdir(os.path.join(e2e_project["workspace"], "serving_model", "chicago_taxi"))
    assert min(pushed, key=int) == facts["pushed"]
    metadata = os.path.join(e2e_project["workspace"], "metadata.sqlite")
    path = report_lib.write_report(metadata, e2e_project["pipeline"], str(tmp_path / "report.html"), facts["run_id"])
    with open(path, encoding="utf-8") as f:
        written = _Page(f.read())
    assert not [url for _, _, url in written.urls if re.match(r"(https?:)?//", url)], written.urls
    images = [url for tag, _, url in written.urls if tag == "img"]
    assert images and all(url.startswith("data:image/png;base64,") for url in images), images

    dom, requested, failed = open_offline(path, str(tmp_path / "profile"))
    assert not leaves_the_page(requested), requested
    assert not failed, failed
    sections = _Page(dom).sections
    assert set(SECTIONS) <= set(sections), sections.keys()
    assert facts["run_id"] in sections["overview"]
    assert re.search(r"Code commit ([0-9a-f]{40}|unknown)", sections["overview"]), sections["overview"]
    assert "WindowExampleGen COMPLETE" in sections["overview"] and "Pusher COMPLETE" in sections["overview"]
    assert f"train {facts['train_rows']}" in sections["data"], sections["data"]
    assert re.search(r"fare FLOAT \d+\.\d% [\d.]+", sections["data"]), sections["data"]
    assert "passed: no anomalies" in sections["validation"]
    assert "not checked: no earlier span" in sections["drift"]
    assert f"auc {facts['auc']}" in sections["evaluation"], sections["evaluation"]
    assert "AUC per payment_type" in sections["evaluation"] and "thresholds alone" in sections["evaluation"]
    assert "Blessed: yes: every threshold met; nothing served yet" in sections["blessing"]
    assert f"Pushed version {facts['pushed']}" in sections["verdict"], sections["verdict"]
    assert "nothing was served yet: the thresholds alone decided" in sections["verdict"]
    assert f"Pushed version {facts['pushed']}" in sections["push"], sections["push"]
    for step in ("Pusher", "Evaluator", "Trainer", "Transform", "StatisticsGen", "WindowExampleGen"):
        assert f" {step} COMPLETE" in sections["push"], step


@pytest.mark.e2e
def test_kfx_report_writes_the_latest_run_and_rejects_bad_input(e2e_project, e2e_first_run, tmp_path):
    workspace, config = e2e_project["workspace"], e2e_project["config"]
    latest = store_lib.latest_run(
        store_lib.connect(os.path.join(workspace, "metadata.sqlite")), e2e_project["pipeline"]
    )
    result = run_kfx("report", "--workspace", workspace, "--config", config)
    assert result.returncode == 0, result.stderr
    expected = Workspace.under(workspace).report_path(latest.run_id)
    assert result.stdout.strip() == expected and ":" not in os.path.basename(expected)
    with open(expected, encoding="utf-8") as f:
        assert latest.run_id in _Page(f.read()).sections["overview"]

    for args, fragment in (
        (["--workspace", str(tmp_path / "missing")], "no ML Metadata at"),
        (["--workspace", workspace, "--run", "2000-01-01T00:00:00"], "no run '2000-01-01T00:00:00'"),
    ):
        result = run_kfx("report", "--config", config, *args)
        assert result.returncode == 2, result.stdout + result.stderr
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], result.stderr
