"""diagnostics.html opened from disk in headless Chromium (no server, no network): a screenshot
shows the plots rendered (the healthy band's green and the series' blue are on the page)."""

from __future__ import annotations

import base64
import io
import os

import numpy as np
import pytest

from chainrule import nn, optim, train

websocket = pytest.importorskip("websocket", reason="websocket-client (the test extra) drives it")
import viz_cdp  # noqa: E402 - after the importorskip above


def _binary() -> str:
    binary = viz_cdp.find_browser()
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("no chromium on a CI machine: .ci/run must install Debian's chromium")
        pytest.skip("no chromium installed (apt-get install chromium) - the browser test skips")
    return binary


def test_the_report_renders_its_plots_offline(tmp_path):
    from matplotlib import image

    X = np.random.default_rng(0).standard_normal((300, 8)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0)
    net = nn.MLP([8, 16, 3], activation="tanh", rng=np.random.default_rng(0))
    train.fit(net, optim.Adam(net.parameters(), lr=0.01), (X, y), epochs=3, batch_size=30,
              verbose=False, out_dir=tmp_path, callbacks=[train.Diagnostics(every=5)])  # fmt: skip
    page = tmp_path / "diagnostics.html"
    with viz_cdp.Browser(_binary()) as b:
        b.call("Emulation.setDeviceMetricsOverride", width=1200, height=900, deviceScaleFactor=1,
               mobile=False)  # fmt: skip
        b.open(page.as_uri())
        boxes = b.evaluate("Array.from(document.querySelectorAll('polyline.series, rect.band'))"
                           ".map(e => {const r = e.getBoundingClientRect();"
                           " return r.width * r.height + r.width})")  # fmt: skip
        shot = b.call("Page.captureScreenshot", format="png")["data"]
    assert len(boxes) >= 3 and all(v > 0 for v in boxes)
    pixels = image.imread(io.BytesIO(base64.b64decode(shot)), format="png")[..., :3]
    rgb = np.round(pixels * 255).astype(int)
    band = np.all(rgb == (0xC8, 0xF0, 0xC8), axis=-1).sum()  # the healthy band
    blue = np.all(np.abs(rgb - (0x1F, 0x77, 0xB4)) < 12, axis=-1).sum()  # series and histograms
    assert band > 2000 and blue > 500, (band, blue)
