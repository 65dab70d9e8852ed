"""A self-contained HTML page that steps through the forward pass, then the backward pass.

One node per step, with Prev/Next buttons and the arrow keys; each backward step shows
upstream x local = downstream for every input of the gate. The page carries everything it
needs (the SVG inline, the explanation's data as JSON, the script and styles from
``viz/stepper.html``): no network access, no external script or font.

>>> import chainrule as cr
>>> e = cr.viz.explain_expression("(x+y)*z", {"x": -2, "y": 5, "z": -4})
>>> page = to_html(e)
>>> "<script src" in page, "http://" in page.replace("http://www.w3.org/2000/svg", "")
(False, False)
"""

from __future__ import annotations

import html
import json
import re
from importlib import resources
from typing import Any

from chainrule.viz import svg


def _template() -> str:
    return resources.files("chainrule.viz").joinpath("stepper.html").read_text("utf-8")


def to_html(explanation: Any) -> str:
    """The page as text (raises GraphTooLargeError past 300 nodes)."""
    picture = svg.to_svg(explanation)
    # JSON inside <script>: a "</" would end the element early, so no "<" at all
    data = json.dumps(explanation.to_dict(), allow_nan=False).replace("<", "\\u003c")
    parts = {"TITLE": html.escape(explanation.title), "SVG": picture, "DATA": data}
    # one pass, so text inside a part is never taken for a placeholder
    return re.sub(r"\{\{(TITLE|SVG|DATA)\}\}", lambda m: parts[m.group(1)], _template())


def write(explanation: Any, path: str | None = None) -> str:
    """Return the page, and write it atomically to ``path`` when one is given."""
    page = to_html(explanation)
    if path is not None:
        svg.atomic_write(path, page.encode("utf-8"))
    return page
