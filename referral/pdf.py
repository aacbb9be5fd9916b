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
# A line is filled to this share of the page's width: the words are measured one by one, and the
# whole line, shaped at once, may come out a little wider (kerning across the spaces).
_FILL = 0.97


class Document:
    """An A4 page flow of lines: `line` writes one paragraph aligned to the reading direction,
    `box` an empty framed space to write in by hand."""

    def __init__(self, title: str, rtl: bool) -> None:
        from fpdf import FPDF

        self.rtl = rtl
        self._widths: dict[tuple[str, str, float], float] = {}
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
        """One paragraph, wrapped at spaces to the page's width.

        fpdf2's own wrapping (multi_cell) shapes the text again for every character it adds to a
        line, which made a meeting pack take seconds; here each word is measured once (shaped, so
        Arabic's joined forms have their real width) and each line is drawn whole as one cell. A
        paragraph with a word wider than the page is left to multi_cell, which can break inside it."""
        self.pdf.set_font("naskh", style, size)
        width = self.pdf.epw * _FILL
        for paragraph in (text or "—").split("\n"):
            lines = self._wrapped(paragraph, width, (style, size))
            if lines is None:
                self.pdf.multi_cell(0, height, paragraph or " ", align=self.align, new_x="LMARGIN", new_y="NEXT")
                continue
            for line in lines:
                self.pdf.cell(0, height, line, align=self.align, new_x="LMARGIN", new_y="NEXT")

    def _wrapped(self, paragraph: str, width: float, font: tuple[str, float]) -> list[str] | None:
        words = paragraph.split()
        if not words:
            return [" "]
        space = self._width(" ", font)
        lines: list[str] = []
        current: list[str] = []
        used = 0.0
        for word in words:
            measured = self._width(word, font)
            if measured > width:
                return None
            if current and used + space + measured > width:
                lines.append(" ".join(current))
                current, used = [], 0.0
            used += (space if current else 0.0) + measured
            current.append(word)
        lines.append(" ".join(current))
        return lines

    def _width(self, text: str, font: tuple[str, float]) -> float:
        key = (text, *font)
        found = self._widths.get(key)
        if found is None:
            found = self._widths[key] = float(self.pdf.get_string_width(text))
        return found

    def box(self, height: float) -> None:
        """An empty framed space the width of the page (it moves to the next page if it does not fit)."""
        if self.pdf.will_page_break(height):
            self.pdf.add_page()
        self.pdf.cell(0, height, "", border=1, new_x="LMARGIN", new_y="NEXT")

    def ln(self, height: float) -> None:
        self.pdf.ln(height)

    def output(self) -> bytes:
        return bytes(self.pdf.output())
