"""The one way the app draws a PDF: fpdf2 on A4, its Arabic shaped by HarfBuzz and laid out right
to left (left to right in English), in Noto Naskh Arabic shipped with the app (static/vendor/fonts,
SIL OFL 1.1). The referral form, the activity plan and the meeting pack are all drawn with it."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

# fontTools names every glyph it keeps when it subsets the font: a hint of the letters printed
logging.getLogger("fontTools").setLevel(logging.WARNING)

FONT_DIR = Path(__file__).resolve().parent / "static" / "vendor" / "fonts"
FONT_REGULAR = FONT_DIR / "NotoNaskhArabic-Regular.ttf"
FONT_BOLD = FONT_DIR / "NotoNaskhArabic-Bold.ttf"


class Document:
    """An A4 page flow of lines: `line` writes one paragraph aligned to the reading direction,
    `box` an empty framed space to write in by hand."""

    def __init__(self, title: str, rtl: bool) -> None:
        from fpdf import FPDF

        self.rtl = rtl
        self.align = "R" if rtl else "L"
        self.pdf: Any = FPDF(format="A4")
        self.pdf.set_title(title)
        self.pdf.set_creator("Shabaka")
        self.pdf.add_font("naskh", "", str(FONT_REGULAR))
        self.pdf.add_font("naskh", "B", str(FONT_BOLD))
        self.pdf.set_text_shaping(use_shaping_engine=True)
        self.pdf.set_auto_page_break(True, margin=15)
        self.pdf.add_page()

    def line(self, text: str, size: float, style: str = "", height: float = 7) -> None:
        self.pdf.set_font("naskh", style, size)
        self.pdf.multi_cell(0, height, text or "—", align=self.align, new_x="LMARGIN", new_y="NEXT")

    def box(self, height: float) -> None:
        """An empty framed space the width of the page (it moves to the next page if it does not fit)."""
        if self.pdf.will_page_break(height):
            self.pdf.add_page()
        self.pdf.cell(0, height, "", border=1, new_x="LMARGIN", new_y="NEXT")

    def ln(self, height: float) -> None:
        self.pdf.ln(height)

    def output(self) -> bytes:
        return bytes(self.pdf.output())
