"""The report: report.html after every bench run (self-contained, checked in a real browser where
Chromium is installed) and ``mlp-core report``, which rebuilds and merges runs."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import replace

import numpy as np
import pytest

from mlp_core.bench.config import BenchConfig
from mlp_core.bench.runner import run_benchmark
from mlp_core.cli import main

from .test_bench import fake_job

CFG = BenchConfig(impls=["numpy", "keras"], batch_sizes=[100, 10000], repeats=2, floor=False)


def fake_rows(job, config):
    row = fake_job(job, config)
    row.update(peak_rss_mb=100.0 if job["impl"] == "numpy" else 400.0,
               cpu="cpu-a", cpu_count=2, versions={"numpy": "2"})
    if job["impl"] == "keras":
        row["fit_time"] *= 3
    return row


@pytest.fixture
def run_dir(tmp_path):
    out = tmp_path / "run"
    run_benchmark(CFG, out, run_job=fake_rows, command="mlp-core bench --impl numpy,keras")
    assert main(["report", str(out), "--out", str(out)]) == 0
    return out


def external_references(page: str) -> list[str]:
    """Every src/href/url() that points anywhere but the page itself."""
    refs = re.findall(r"""(?:src|href)\s*=\s*['"]([^'"]*)['"]""", page)
    refs += re.findall(r"url\(([^)]*)\)", page)
    return [r for r in refs if not r.startswith(("data:", "#"))]


def test_the_report_is_one_self_contained_page(run_dir):
    page = (run_dir / "report.html").read_text()
    assert "<table>" in page and "<td>numpy</td>" in page and "<td>keras</td>" in page
    assert page.count('src="data:image/png;base64,') >= 1
    assert external_references(page) == [] and "<link" not in page
    assert "http://" not in page and "https://" not in page
    assert len(page.encode()) < 5 * 2**20
    assert "mlp-core bench --impl numpy,keras" in page  # the command that measures again
    assert f"mlp-core report {run_dir} --out {run_dir}" in page


def test_report_rebuilds_a_run_elsewhere(run_dir, tmp_path):
    again = tmp_path / "again"
    assert main(["report", str(run_dir), "--out", str(again)]) == 0
    for name in ("summary.md", "summary.csv", "plot.png", "report.html", "results.jsonl"):
        assert (again / name).exists(), name
    assert (again / "summary.md").read_text() == (run_dir / "summary.md").read_text()


def test_report_merges_runs_and_keeps_a_measurement_once(run_dir, tmp_path):
    other = tmp_path / "other"  # another machine's rows, and one row measured in both runs
    run_benchmark(CFG, other, run_job=lambda j, c: {**fake_rows(j, c), "cpu": "cpu-b"})
    rows = [json.loads(line) for line in (other / "results.jsonl").read_text().splitlines()]
    for r in rows:
        r["machine"] = "b"
    first = json.loads((run_dir / "results.jsonl").read_text().splitlines()[0])
    (other / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in [*rows, first]))
    merged = tmp_path / "merged"
    assert main(["report", str(run_dir), str(other), "--out", str(merged)]) == 0
    lines = (merged / "results.jsonl").read_text().splitlines()
    assert len(lines) == 2 * 8  # 8 rows a run, the repeated one once
    assert "| b | numpy |" in (merged / "summary.md").read_text()


def test_report_shows_different_configurations_apart(run_dir, tmp_path):
    longer = tmp_path / "longer"
    run_benchmark(replace(CFG, epochs=5), longer, run_job=fake_rows)
    merged = tmp_path / "merged"
    assert main(["report", str(run_dir), str(longer), "--out", str(merged)]) == 0
    assert (merged / "config-1" / "summary.md").exists()
    assert (merged / "config-2" / "summary.md").exists()
    page = (merged / "report.html").read_text()
    assert "Configuration 1" in page and "Configuration 2" in page


@pytest.mark.parametrize("content,message", [
    ('{"impl": numpy, "batch_size": 10}\n{}\n', ":1: damaged line"),
    ('{"hello": "world"}\n', ":1: not an mlp-core bench row"),
])
def test_a_damaged_or_foreign_results_file_is_one_error(tmp_path, capsys, content, message):
    (tmp_path / "results.jsonl").write_text(content)
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert message in err and str(tmp_path / "results.jsonl") in err
    assert len(err.strip().splitlines()) == 1


def test_a_row_cut_short_by_a_crash_is_left_out_and_said(run_dir, tmp_path, capsys):
    """A crash leaves its row unterminated at the end of the file: left out, with one line."""
    lines = (run_dir / "results.jsonl").read_text().splitlines()
    cut = lines[-1][: len(lines[-1]) // 2]
    (run_dir / "results.jsonl").write_text("\n".join([*lines[:-1], cut]))
    assert main(["report", str(run_dir), "--out", str(tmp_path / "out")]) == 0
    assert len((tmp_path / "out" / "results.jsonl").read_text().splitlines()) == len(lines) - 1
    err = capsys.readouterr().err
    assert f"results.jsonl:{len(lines)}: the last row is cut off" in err


def test_a_row_cut_short_in_the_middle_is_an_error(run_dir, tmp_path, capsys):
    lines = (run_dir / "results.jsonl").read_text().splitlines()
    lines[2] = lines[2][: len(lines[2]) // 2]
    (run_dir / "results.jsonl").write_text("\n".join(lines) + "\n")
    assert main(["report", str(run_dir), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "results.jsonl:3: damaged line" in err[0]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("change,message", [
    ({"fit_time": "1.0"}, "fit_time must be a finite number > 0, got '1.0'"),
    ({"fit_time": float("nan")}, "fit_time must be a finite number > 0, got nan"),
    ({"fit_time": -2.0}, "fit_time must be a finite number > 0"),
    ({"step_time": 0.0}, "step_time must be a finite number > 0"),
    ({"test_accuracy": float("inf")}, "test_accuracy must be a finite number >= 0"),
    ({"batch_size": "500"}, "batch_size must be an integer >= 1"),
    ({"repeat": True}, "repeat must be an integer >= 0"),
    ({"layers": [70, "30"]}, "layers must be a list of positive integers"),
    ({"impl": "numpyy"}, "unknown implementation 'numpyy'"),
    ({"impl": 3}, "impl must be a name"),
    ({"status": "maybe"}, "status must be one of 'ok', 'error', 'flagged'"),
    ({"config": []}, "config must be an object"),
])
def test_a_row_with_a_bad_field_is_one_line_naming_file_and_line(run_dir, tmp_path, capsys,
                                                                  change, message):
    lines = (run_dir / "results.jsonl").read_text().splitlines()
    lines[1] = json.dumps({**json.loads(lines[1]), **change})
    (run_dir / "results.jsonl").write_text("\n".join(lines) + "\n")
    assert main(["report", str(run_dir), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("mlp-core: error:"), err
    assert f"{run_dir / 'results.jsonl'}:2: {message}" in err[0]


def test_a_resumed_bench_drops_a_cut_row_and_the_report_reads_its_file(tmp_path):
    """The bench's own file after a crash and a resumed run holds no cut row: the report reads
    it whole."""
    out = tmp_path / "run"
    run_benchmark(CFG, out, run_job=fake_rows)
    lines = (out / "results.jsonl").read_text().splitlines()
    (out / "results.jsonl").write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:30])
    run_benchmark(CFG, out, run_job=fake_rows)
    assert len((out / "results.jsonl").read_text().splitlines()) == len(lines)
    assert main(["report", str(out), "--out", str(out)]) == 0


def test_local_runs_of_two_machines_stay_apart(run_dir, tmp_path):
    laptop = tmp_path / "laptop"
    run_benchmark(CFG, laptop, run_job=lambda j, c: {**fake_rows(j, c), "host": "laptop"})
    rows = [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines()]
    (run_dir / "results.jsonl").write_text("".join(json.dumps({**r, "host": "vm"}) + "\n"
                                                   for r in rows))
    merged = tmp_path / "merged"
    assert main(["report", str(run_dir), str(laptop), "--out", str(merged)]) == 0
    table = (merged / "summary.md").read_text()
    assert "| vm | numpy |" in table and "| laptop | numpy |" in table


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(not CHROMIUM, reason="no Chromium here (Debian: apt-get install chromium)")
def test_the_page_renders_in_a_real_browser(run_dir, tmp_path):
    """Headless Chromium loads the page offline: the table is there, every image decoded, and
    the screenshot is not blank."""
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--window-size=1280,1600",
             "--allow-file-access-from-files"]
    url = (run_dir / "report.html").as_uri()
    dom = subprocess.run([CHROMIUM, *flags, "--dump-dom", url], capture_output=True, text=True,
                         timeout=120).stdout
    loaded = re.search(r'data-images-loaded="(\d+)/(\d+)"', dom)
    assert loaded and loaded.group(1) == loaded.group(2) and int(loaded.group(2)) >= 1
    assert "<table>" in dom and "<td>numpy</td>" in dom
    shot = tmp_path / "shot.png"
    subprocess.run([CHROMIUM, *flags, f"--screenshot={shot}", url], capture_output=True,
                   timeout=120, check=True)
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[0] > 100 and float(np.std(pixels)) > 0.01  # not a blank page


def _run(tmp_path, name, slower=1.0, cpu="cpu-a"):
    out = tmp_path / name
    cfg = replace(CFG, repeats=6)

    def rows(job, config):
        base = 1.0 * slower if job["impl"] == "numpy" else 3.0
        jitter = 1 + 0.01 * ((job["repeat"] * 7) % 5)
        return {**fake_rows(job, config), "fit_time": base * jitter, "cpu": cpu}

    run_benchmark(cfg, out, run_job=rows)
    return out


def test_compare_gives_every_shared_cell_a_ratio_interval_and_verdict(tmp_path, capsys):
    old, new = _run(tmp_path, "old"), _run(tmp_path, "new", slower=1.5, cpu="cpu-b")
    assert main(["compare", str(old), str(new), "--out", str(tmp_path / "cmp")]) == 0
    out = capsys.readouterr().out
    assert "The machines differ: OLD CPU: cpu-a" in out
    md = (tmp_path / "cmp" / "compare.md").read_text()
    assert md.count("| slower |") == 2 and md.count("| no significant change |") == 2
    csv_text = (tmp_path / "cmp" / "compare.csv").read_text()
    assert csv_text.startswith("machine,impl,model,batch_size,threads,dtype,old_s,new_s,old_runs,"
                               "new_runs,ratio,ratio_ci_low,ratio_ci_high,verdict")
    page = (tmp_path / "cmp" / "compare.html").read_text()
    assert "<table>" in page and "slower" in page and external_references(page) == []


def test_compare_refuses_a_folder_without_results_and_runs_with_nothing_in_common(
        tmp_path, capsys):
    old = _run(tmp_path, "old")
    (tmp_path / "empty").mkdir()
    assert main(["compare", str(tmp_path / "empty"), str(old)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no results.jsonl here" in err[0]
    other = tmp_path / "other"
    run_benchmark(replace(CFG, batch_sizes=[7]), other, run_job=fake_rows)
    assert main(["compare", str(old), str(other)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no cell in common" in err[0]


@pytest.mark.parametrize("argv,message", [
    (["--repeat", "auto", "--precision", "0"], "expected a fraction in (0, 1)"),
    (["--repeat", "auto", "--budget", "-1"], "expected a number of seconds > 0"),
    (["--repeat", "3", "--budget", "60"], "--precision and --budget go with --repeat auto"),
    (["--repeat", "auto3"], "expected an integer >= 1 or 'auto'"),
])
def test_bad_repeat_options_are_one_line(tmp_path, capsys, argv, message):
    assert main(["bench", "--impl", "numpy", "--out", str(tmp_path / "o"), *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "o").exists()


def test_the_page_leads_with_the_answer_then_plots_then_tables(run_dir):
    page = (run_dir / "report.html").read_text()
    answer = page.index("is fastest in") if "is fastest in" in page else page.index("tie")
    assert answer < page.index("<img") < page.index("<table>") < page.index("Regenerate")
    assert page.count("<h1>mlp-core benchmark</h1>") == 1


def test_the_page_shows_each_plot_and_its_title_once(run_dir):
    page = (run_dir / "report.html").read_text()
    assert page.count("<img") == 1 and page.count(">mlp-core benchmark</h") == 1
