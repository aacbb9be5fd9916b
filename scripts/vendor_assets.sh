#!/usr/bin/env bash
# Vendor front-end assets from the npm packages pinned in package.json /
# package-lock.json into the places the app and the browser tests load them:
#   referral/static/vendor/bootstrap/  bootstrap.rtl.min.css, bootstrap.min.css,
#                                      bootstrap.bundle.min.js, LICENSE
#   referral/static/vendor/htmx/       htmx.min.js, LICENSE
#   referral/static/vendor/chartjs/    chart.umd.min.js, LICENSE, LICENSE-kurkle-color
#                                      (the statistics charts; the bundle includes @kurkle/color)
#   tests/browser/vendor/              axe.min.js, LICENSE, LICENSE-3RD-PARTY.txt (axe-core, MPL-2.0)
#   referral/static/vendor/fonts/      NotoNaskhArabic-Regular.ttf, NotoNaskhArabic-Bold.ttf,
#                                      LICENSE (SIL OFL 1.1): the printable referral form and its PDF
# sourceMappingURL comments are stripped so browsers do not request the
# (not vendored) .map files.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

npm ci --no-audit --no-fund

NM="$ROOT/node_modules"

# copy_stripped SRC DEST: copy a css/js file, dropping sourceMappingURL lines.
copy_stripped() {
    local src="$1" dest="$2"
    [[ -f "$src" ]] || { echo "vendor_assets: missing $src" >&2; exit 1; }
    mkdir -p "$(dirname "$dest")"
    # Remove whole-line "/*# sourceMappingURL=... */" and "//# sourceMappingURL=..."
    # (also the older "//@" form), then any such comment left at a line's end.
    sed -E \
        -e '/^[[:space:]]*\/\*[#@][[:space:]]*sourceMappingURL=.*\*\/[[:space:]]*$/d' \
        -e '/^[[:space:]]*\/\/[#@][[:space:]]*sourceMappingURL=.*$/d' \
        -e 's#/\*[#@][[:space:]]*sourceMappingURL=[^*]*\*/[[:space:]]*$##' \
        -e 's#//[#@][[:space:]]*sourceMappingURL=[^[:space:]]*[[:space:]]*$##' \
        "$src" > "$dest.tmp"
    mv "$dest.tmp" "$dest"
    if grep -q 'sourceMappingURL=' "$dest"; then
        echo "vendor_assets: sourceMappingURL still present in $dest" >&2
        exit 1
    fi
}

copy_license() {
    local src="$1" dest_dir="$2"
    [[ -f "$src" ]] || { echo "vendor_assets: missing $src" >&2; exit 1; }
    mkdir -p "$dest_dir"
    cp "$src" "$dest_dir/LICENSE"
}

BS_OUT="$ROOT/referral/static/vendor/bootstrap"
copy_stripped "$NM/bootstrap/dist/css/bootstrap.rtl.min.css" "$BS_OUT/bootstrap.rtl.min.css"
copy_stripped "$NM/bootstrap/dist/css/bootstrap.min.css" "$BS_OUT/bootstrap.min.css"
copy_stripped "$NM/bootstrap/dist/js/bootstrap.bundle.min.js" "$BS_OUT/bootstrap.bundle.min.js"
copy_license "$NM/bootstrap/LICENSE" "$BS_OUT"

HTMX_OUT="$ROOT/referral/static/vendor/htmx"
copy_stripped "$NM/htmx.org/dist/htmx.min.js" "$HTMX_OUT/htmx.min.js"
copy_license "$NM/htmx.org/LICENSE" "$HTMX_OUT"

CHART_OUT="$ROOT/referral/static/vendor/chartjs"
copy_stripped "$NM/chart.js/dist/chart.umd.min.js" "$CHART_OUT/chart.umd.min.js"
copy_license "$NM/chart.js/LICENSE.md" "$CHART_OUT"
# chart.umd.min.js bundles @kurkle/color (MIT); keep its notice alongside.
cp "$NM/@kurkle/color/LICENSE.md" "$CHART_OUT/LICENSE-kurkle-color"

AXE_OUT="$ROOT/tests/browser/vendor"
copy_stripped "$NM/axe-core/axe.min.js" "$AXE_OUT/axe.min.js"
copy_license "$NM/axe-core/LICENSE" "$AXE_OUT"
# axe.min.js bundles third-party code; keep its notices alongside.
cp "$NM/axe-core/LICENSE-3RD-PARTY.txt" "$AXE_OUT/LICENSE-3RD-PARTY.txt"

FONT_PKG="$NM/@expo-google-fonts/noto-naskh-arabic"
FONT_OUT="$ROOT/referral/static/vendor/fonts"
mkdir -p "$FONT_OUT"
cp "$FONT_PKG/400Regular/NotoNaskhArabic_400Regular.ttf" "$FONT_OUT/NotoNaskhArabic-Regular.ttf"
cp "$FONT_PKG/700Bold/NotoNaskhArabic_700Bold.ttf" "$FONT_OUT/NotoNaskhArabic-Bold.ttf"
cp "$FONT_PKG/LICENSE_FONT" "$FONT_OUT/LICENSE"

echo "vendor_assets: bootstrap $(node -p "require('$NM/bootstrap/package.json').version")," \
     "htmx.org $(node -p "require('$NM/htmx.org/package.json').version")," \
     "chart.js $(node -p "require('$NM/chart.js/package.json').version")," \
     "axe-core $(node -p "require('$NM/axe-core/package.json').version")," \
     "noto-naskh-arabic $(node -p "require('$FONT_PKG/package.json').version") vendored"
