"""The report in a real headless browser (Debian's chromium): it loads without errors, every figure
decodes and is drawn, nothing is fetched from elsewhere; screenshots are kept in tests/artifacts/.

Skipped, with a message saying how to install it, where chromium is not on PATH (``.ci/run``
installs it).
"""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    BROWSER is None, reason="chromium is not installed, so the report is not checked in a headless browser "
                            "(install it with `apt-get install chromium`; .ci/run does)")
FIGURES = {"fig-k", "fig-membership", "fig-module-forest", "fig-signature", "fig-biomarker-forest",
           "fig-comparison", "fig-sensitivity", "fig-calibration"}
# Injected into a copy of the report (the report itself has no script): records load errors and,
# once the page has loaded, whether each image decoded, and which resources were fetched.
PROBE = """<script>
window.__errors = [];
window.addEventListener('error', function (e) {
  var t = e.target;
  window.__errors.push(t && t !== window && t.tagName ? 'failed to load ' + t.tagName : String(e.message));
}, true);
window.addEventListener('load', function () {
  var out = {errors: window.__errors,
             fetched: performance.getEntriesByType('resource').map(function (r) { return r.name; })
                        .filter(function (n) { return n.indexOf('data:') !== 0; }),
             images: Array.prototype.map.call(document.images, function (i) {
               var f = i.closest('figure');
               return {figure: f ? f.id : '', complete: i.complete, width: i.naturalWidth,
                       shown: i.getBoundingClientRect().width};
             })};
  var pre = document.createElement('pre');
  pre.id = 'probe';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""
ONLY_MEMBERSHIP = "<style>header, footer, main > section:not(#membership) { display: none !important; }</style>"


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    command = [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
               f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,900", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def _variant(report: Path, tmp_path: Path, name: str, head: str) -> Path:
    path = tmp_path / name
    path.write_text(report.read_text().replace("</head>", head + "</head>", 1))
    return path


def test_report_loads_in_a_headless_browser(full_report, tmp_path):
    plain = _chromium(tmp_path, "--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000", "--dump-dom",
                      full_report.as_uri())
    assert plain.returncode == 0, plain.stderr[-2000:]
    console = [line for line in plain.stderr.splitlines() if ":CONSOLE" in line]
    assert not [line for line in console if re.search(r"Uncaught|Error|Failed|Refused", line)], console
    assert FIGURES <= set(re.findall(r'<figure id="([^"]+)"><img', plain.stdout))

    probe = _chromium(tmp_path, "--virtual-time-budget=10000", "--dump-dom",
                      _variant(full_report, tmp_path, "probe.html", PROBE).as_uri())
    found = re.search(r'<pre id="probe">(.*?)</pre>', probe.stdout, re.S)
    assert found, probe.stderr[-2000:]
    result = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert result["errors"] == [] and result["fetched"] == []
    assert {image["figure"] for image in result["images"]} == FIGURES
    for image in result["images"]:
        assert image["complete"] and image["width"] > 100 and image["shown"] > 100, image


def test_report_screenshots(full_report, tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copyfile(full_report, ARTIFACTS / "report.html")
    shots = {"report_first_screen.png": full_report,
             "report_membership.png": _variant(full_report, tmp_path, "membership.html", ONLY_MEMBERSHIP)}
    for name, page in shots.items():
        target = ARTIFACTS / name
        target.unlink(missing_ok=True)
        run = _chromium(tmp_path, f"--screenshot={target}", page.as_uri())
        assert run.returncode == 0 and target.is_file(), run.stderr[-2000:]
        assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and target.stat().st_size > 20_000
