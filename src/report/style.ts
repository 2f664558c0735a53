/**
 * The report's stylesheet, inlined into every report so the file stands alone. Colours carry
 * meaning only together with text (labels, numbers, tables), and print keeps them exact.
 */
export const REPORT_CSS = `
:root { color-scheme: light; --ink: #1f2328; --muted: #57606a; --line: #d0d7de; --soft: #f6f8fa; --accent: #0b5cad; --warn: #9a3412; --ok: #166534; }
* { box-sizing: border-box; }
html { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", sans-serif; color: var(--ink); background: #fff; }
body { margin: 0; }
a { color: var(--accent); }
:focus-visible { outline: 3px solid #1a73e8; outline-offset: 2px; }
.skip { position: absolute; left: -9999px; top: 0; }
.skip:focus { left: 8px; top: 8px; background: #fff; padding: 4px 8px; z-index: 10; }
header.top { background: #0d1b2a; color: #fff; padding: 14px 24px; }
header.top a { color: #cfe3ff; }
header.top nav { display: flex; gap: 18px; align-items: baseline; flex-wrap: wrap; font-size: 14px; }
header.top nav .brand { font-weight: 700; color: #fff; text-decoration: none; margin-right: auto; }
main { max-width: 1060px; margin: 0 auto; padding: 8px 24px 48px; }
h1 { font-size: 1.55rem; margin: 18px 0 2px; overflow-wrap: anywhere; }
h2 { font-size: 1.2rem; margin: 34px 0 8px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 1rem; margin: 18px 0 6px; }
p.sub { color: var(--muted); margin: 0 0 12px; font-size: 14px; overflow-wrap: anywhere; }
p.note { color: var(--muted); font-size: 13.5px; margin: 6px 0; }
dl.stats { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 10px; margin: 14px 0; }
dl.stats div { border: 1px solid var(--line); border-radius: 8px; padding: 8px 12px; background: var(--soft); }
dl.stats dt { font-size: 12.5px; color: var(--muted); }
dl.stats dd { margin: 0; font-size: 1.35rem; font-weight: 650; font-variant-numeric: tabular-nums; }
ul.flags { padding-left: 0; list-style: none; margin: 8px 0; }
ul.flags li { border-left: 4px solid #d97706; background: #fff7ed; padding: 5px 10px; margin: 4px 0; font-size: 14px; }
figure { margin: 10px 0 16px; break-inside: avoid; }
figcaption { font-size: 13.5px; color: var(--muted); margin-top: 2px; }
.charts { display: grid; grid-template-columns: 1fr; gap: 4px; }
svg.chart { width: 100%; height: auto; display: block; font-family: inherit; }
svg .grid { stroke: #e6e8eb; stroke-width: 1; }
svg .axis { stroke: #57606a; stroke-width: 1; }
svg .tick { font-size: 11px; fill: #57606a; }
svg .axis-title { font-size: 12px; fill: #1f2328; font-weight: 600; }
svg .value { font-size: 11.5px; fill: #1f2328; font-variant-numeric: tabular-nums; paint-order: stroke; stroke: #fff; stroke-width: 3px; stroke-linejoin: round; }
svg .bar-label { font-size: 12px; fill: #1f2328; font-weight: 600; }
svg .bar-sublabel { font-size: 11px; fill: #57606a; }
svg .group-label { font-size: 12.5px; font-weight: 650; }
svg .na { font-size: 11px; fill: #9a3412; }
svg .stage-mean { stroke: #1f2328; stroke-width: 2; stroke-dasharray: 7 4; }
svg .row-label { font-size: 13px; fill: #1f2328; }
svg .acc-bar.clean { fill: #8c959f; }
svg .acc-bar.attack { fill: #0072B2; }
svg .acc-bar.worst { fill: #D55E00; }
svg .low-band { fill: none; stroke: #fff; stroke-width: 1.3; stroke-dasharray: 3 2; }
.legend { display: flex; gap: 16px; flex-wrap: wrap; font-size: 13px; color: var(--muted); margin: 2px 0 6px; }
.legend .swatch { display: inline-block; width: 12px; height: 12px; border-radius: 2px; vertical-align: -1px; margin-right: 5px; }
.legend .dash { display: inline-block; width: 22px; border-top: 2px dashed #1f2328; vertical-align: 3px; margin-right: 5px; }
table { border-collapse: collapse; width: 100%; font-size: 13.5px; margin: 6px 0 10px; }
caption { text-align: left; font-size: 13.5px; color: var(--muted); padding: 2px 0 6px; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 8px; text-align: left; vertical-align: top; }
th { background: var(--soft); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td code { font-size: 12.5px; overflow-wrap: anywhere; }
ol.layers { list-style: none; padding: 0; margin: 8px 0; display: flex; flex-wrap: wrap; gap: 6px 0; align-items: center; }
ol.layers li { display: flex; align-items: center; }
ol.layers li + li::before { content: "→"; color: #8c959f; padding: 0 5px; font-size: 13px; }
ol.layers .chip { border: 1px solid var(--line); border-radius: 6px; padding: 2px 7px; font-size: 12.5px; background: #fff; white-space: nowrap; }
ol.layers .chip.io { background: #0d1b2a; color: #fff; border-color: #0d1b2a; }
ol.layers .chip.ds { border-width: 2px; font-weight: 650; }
ol.layers .chip small { font-weight: 400; color: var(--muted); margin-left: 4px; }
.examples { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); gap: 14px; margin: 10px 0; }
.example { border: 1px solid var(--line); border-radius: 8px; padding: 8px; break-inside: avoid; }
.example h3 { margin: 0 0 6px; font-size: 13.5px; font-weight: 600; }
.example .row { display: flex; gap: 8px; }
.example figure { margin: 0; text-align: center; }
.example img { width: 88px; height: 88px; image-rendering: pixelated; border: 1px solid var(--line); display: block; }
.example figcaption { font-size: 12px; line-height: 1.3; margin-top: 3px; }
.wrong { color: var(--warn); font-weight: 650; }
.right { color: var(--ok); font-weight: 650; }
.spectra { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 12px; max-width: 720px; }
.spectra figure { margin: 0; }
.spectra figcaption { text-align: center; }
figure.scale { display: flex; align-items: center; gap: 12px; margin: 6px 0; }
svg.colour-scale { width: 300px; height: auto; display: block; }
svg.accuracy-chart { max-width: 760px; }
details.raw { margin-top: 10px; }
details.raw summary { cursor: pointer; font-weight: 600; }
details.raw pre { max-height: 520px; overflow: auto; background: var(--soft); border: 1px solid var(--line); border-radius: 6px; padding: 10px; font-size: 12px; }
footer { color: var(--muted); font-size: 12.5px; margin-top: 36px; border-top: 1px solid var(--line); padding-top: 8px; }
@media (min-width: 980px) { .charts.two { grid-template-columns: 1fr 1fr; gap: 18px; } }
@media print {
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  html { font-size: 10.5pt; }
  header.top, .skip, .no-print, details.raw { display: none !important; }
  main { max-width: none; padding: 0; }
  h2, h3 { break-after: avoid; }
  h2 { margin-top: 18px; }
  .keep { break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
  table, figure, .example, dl.stats { break-inside: avoid; }
  .charts.two { grid-template-columns: 1fr 1fr; gap: 12px; }
  @page { margin: 14mm 12mm; }
}
`;
