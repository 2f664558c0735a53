/**
 * The report's robustness part (SPEC §4): clean and robust accuracy per attack, the flags, a
 * few adversarial examples, and the perturbation spectrum as one heatmap per colour channel.
 */
import type { AuditReport } from '../audit/report.js';
import { AccuracyRow, accuracyChart, colourScale, heatmap } from './charts.js';
import { className, esc, metric, over255, parameters, percent, seconds } from './format.js';

type Robustness = NonNullable<AuditReport['robustness']>;
type Example = Robustness['examples'][number];

const CHANNELS = ['red', 'green', 'blue'];

/** The section, or a note on how to get one where the audit ran no attacks. */
export function robustnessSection(r: AuditReport['robustness']): string {
  if (!r) {
    return `<section aria-labelledby="robustness-h"><h2 id="robustness-h">Robustness</h2><p class="note">Not measured: audit with <code>robustness</code> <code>fast</code> or <code>standard</code> for robust accuracy, adversarial examples and the perturbation spectrum.</p></section>`;
  }
  const rows: AccuracyRow[] = [
    { label: 'clean', key: 'clean', value: r.cleanAccuracy, kind: 'clean' },
    ...r.attacks.map((a): AccuracyRow => ({ label: a.name.toUpperCase(), key: a.name, value: a.robustAccuracy, kind: 'attack' })),
    { label: 'all attacks', key: 'robustAccuracy', value: r.robustAccuracy, kind: 'worst' },
  ];
  const chart = accuracyChart(
    rows,
    `Bar chart of accuracy on the first ${r.samples} images: ${rows.map((row) => `${row.label} ${percent(row.value)}`).join(', ')}. The table below lists every attack.`,
  );
  const attackRows = r.attacks
    .map(
      (a) => `<tr data-attack="${esc(a.name)}"><th scope="row">${esc(a.name.toUpperCase())}</th><td>${esc(parameters(a.parameters))}</td><td class="num">${a.attacked ?? a.samples}</td>` +
        `<td class="num" data-key="robustAccuracy" data-value="${a.robustAccuracy}">${esc(percent(a.robustAccuracy))}</td><td class="num">${a.fooled}</td><td class="num">${a.evaluations}</td><td class="num">${esc(seconds(a.seconds))}</td></tr>`,
    )
    .join('');
  const flags = r.flags.length ? `<ul class="flags" aria-label="robustness flags">${r.flags.map((f) => `<li>${esc(f)}</li>`).join('')}</ul>` : '';
  return `<section aria-labelledby="robustness-h"><h2 id="robustness-h">Robustness</h2>
<p class="note">${r.norm === 'l2' ? 'L2' : 'L∞'} attacks in pixel space, ε = ${esc(r.epsText)}, preset ${esc(r.preset)}, on the first ${r.samples} images (clean accuracy on these: ${esc(percent(r.cleanAccuracy))}). The attacks run in the order listed, each on the images still correct that no earlier attack broke (as AutoAttack does); an attack's robust accuracy counts the images left after it and every attack before it, “all attacks” those left after the last one.${r.gradient.available ? '' : ` No input gradient: ${esc(r.gradient.reason ?? 'unknown reason')}.`}</p>
<figure id="chart-robustness">${chart}<figcaption>Clean accuracy (grey), robust accuracy per attack (blue) and under all attacks (orange).</figcaption></figure>
<table id="attacks-table"><caption>Attacks (seed ${r.attacks[0]?.seed ?? 0}).</caption>
<thead><tr><th scope="col">attack</th><th scope="col">parameters</th><th scope="col" class="num">images attacked</th><th scope="col" class="num">robust accuracy after it</th><th scope="col" class="num">broke</th><th scope="col" class="num">evaluations</th><th scope="col" class="num">time</th></tr></thead>
<tbody>${attackRows}</tbody></table>
${flags}
${examplesBlock(r)}
${spectrumBlock(r)}
</section>`;
}

function prediction(label: number, predicted: number): string {
  const ok = label === predicted;
  return `<span class="${ok ? 'right' : 'wrong'}">${esc(className(predicted))}</span>`;
}

function exampleCard(e: Example, eps: number): string {
  const truth = className(e.label);
  return `<article class="example" data-index="${e.index}" aria-label="${esc(`test image ${e.index}, a ${truth}`)}">
<h3>Test image ${e.index}: ${esc(truth)} · ${esc(e.attack.toUpperCase())}</h3>
<div class="row">
<figure><img src="${esc(e.cleanPng)}" width="32" height="32" alt="${esc(`clean test image ${e.index} (a ${truth}), classified as ${className(e.cleanPrediction)}`)}"><figcaption>clean<br>${prediction(e.label, e.cleanPrediction)}</figcaption></figure>
<figure><img src="${esc(e.adversarialPng)}" width="32" height="32" alt="${esc(`adversarial version of image ${e.index}, classified as ${className(e.adversarialPrediction)}`)}"><figcaption>adversarial<br>${prediction(e.label, e.adversarialPrediction)}</figcaption></figure>
<figure><img src="${esc(e.perturbationPng)}" width="32" height="32" alt="${esc(`the perturbation of image ${e.index}, magnified: ±${over255(eps)} shown as black to white`)}"><figcaption>perturbation<br>×${Math.round(1 / (2 * eps))}</figcaption></figure>
</div></article>`;
}

function examplesBlock(r: Robustness): string {
  if (r.examples.length === 0) return '<h3>Adversarial examples</h3><p class="note">No sample was turned from correct to wrong, so there is no example to show.</p>';
  return `<h3>Adversarial examples</h3>
<p class="note">Samples that ${esc(r.examples[0].attack.toUpperCase())} turned from correct (green) to wrong (red). The perturbation is magnified so that the ε-ball spans black to white; mid grey is no change.</p>
<div class="examples">${r.examples.map((e) => exampleCard(e, r.eps)).join('')}</div>`;
}

function spectrumBlock(r: Robustness): string {
  const s = r.perturbationSpectrum;
  if (!s) return '';
  const all = s.channels.flat(2);
  const lo = Math.min(...all);
  const hi = Math.max(...all);
  const band = s.size / 4;
  const panels = s.channels
    .map(
      (m, c) => `<figure>${heatmap(m, {
        lo,
        hi,
        lowBand: band,
        channel: CHANNELS[c],
        ariaLabel: `Heatmap of the mean magnitude of the perturbations' spectrum in the ${CHANNELS[c]} channel, zero frequency at the centre, values ${metric(lo)} to ${metric(hi)}; the dashed square bounds the frequencies up to ${band}.`,
      })}<figcaption>${CHANNELS[c]}</figcaption></figure>`,
    )
    .join('');
  return `<div class="keep"><h3>Perturbation spectrum</h3>
<p class="note">Mean |DFT| of the ${esc(s.attack.toUpperCase())} perturbations over ${s.samples} images, per channel, zero frequency at the centre. Frequencies outside the dashed square (max(|u|,|v|) &gt; ${band}) are the upper half of the band below Nyquist; they hold <strong id="hf-share" data-value="${s.highFrequencyShare}">${esc(percent(s.highFrequencyShare))}</strong> of the perturbations' energy.</p>
<div class="spectra">${panels}</div>
<figure class="scale">${colourScale(lo, hi, 'mean |DFT|')}<figcaption>mean |DFT|, one scale for the three channels</figcaption></figure></div>`;
}
