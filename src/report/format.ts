/**
 * Text for the HTML report: escaping and the one way each kind of number is shown, so that the
 * figures in charts, tables and tests agree digit for digit.
 */

/** CIFAR-10 class names in label order (the dataset's fixed order, as in data/cifar10.ts). */
export const CLASS_NAMES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'] as const;

/** The class name of a label, or the number where it is out of range. */
export function className(label: number): string {
  return CLASS_NAMES[label] ?? `class ${label}`;
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for HTML element content and quoted attribute values. */
export function esc(text: string | number): string {
  return String(text).replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

/**
 * An aliasing metric (am, amRel, aliasEnergy) as shown everywhere in the report: 3 significant
 * digits, which tells stages and models apart without pretending more precision than a
 * sample of a few hundred images gives.
 */
export function metric(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return 'n/a';
  if (value === 0) return '0';
  const abs = Math.abs(value);
  return abs >= 1e-3 && abs < 1e5 ? String(Number(value.toPrecision(3))) : value.toExponential(2);
}

/** A share in [0, 1] as a percentage with one decimal ("85.0%"). */
export function percent(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return 'n/a';
  return `${(value * 100).toFixed(1)}%`;
}

/** Seconds, short. */
export function seconds(value: number): string {
  return value < 10 ? `${value.toFixed(2)} s` : `${value.toFixed(0)} s`;
}

/** A shape such as [32, 16, 16] as "32×16×16"; symbolic dims by name, unknown as "?". */
export function shape(dims: readonly (number | string | null)[] | undefined): string {
  if (!dims || dims.length === 0) return '';
  return dims.map((d) => (d === null ? '?' : String(d))).join('×');
}

/** The last path segments of an ONNX node name, enough to tell ops apart ("layers.1/shortcut/Conv"). */
export function shortNodeName(name: string, segments = 3): string {
  const parts = name.split('/').filter((p) => p !== '');
  return parts.length <= segments ? parts.join('/') || name : parts.slice(-segments).join('/');
}

/** An attack's parameters as "steps 10, stepSize 2/255"; fractions of 1/255 shown as such. */
export function parameters(params: Record<string, number | boolean | string>): string {
  return Object.entries(params)
    .map(([k, v]) => `${k} ${typeof v === 'number' ? over255(v) : String(v)}`)
    .join(', ');
}

/** 0.0313725... as "8/255" where it is a whole number of 255ths (how eps is usually written). */
export function over255(value: number): string {
  const n = value * 255;
  if (value > 0 && value < 1 && Math.abs(n - Math.round(n)) < 1e-9) return `${Math.round(n)}/255`;
  return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(4)));
}
