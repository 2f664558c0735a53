/**
 * The audit options as commander options (names and help text only). Their values stay text
 * here and are validated once, by parseAuditOptions, for the CLI and the HTTP service alike;
 * the defaults named in the help come from the same constants the audit uses.
 */
import { Command, Option } from 'commander';
import { DEFAULT_EPS, robustnessPlan } from '../attacks/presets.js';
import { ATTACK_NAMES } from '../attacks/suite.js';
import { BASELINE_GATE_KEYS } from '../audit/baseline.js';
import { DEFAULT_AUDIT_OPTIONS, LAYOUT_CHOICES, NORM_CHOICES, PREPROCESS_CHOICES, RawOptions, ROBUSTNESS_CHOICES } from '../audit/options.js';
import { EXECUTION_PROVIDERS } from '../runtime/session.js';

const d = DEFAULT_AUDIT_OPTIONS;
// Every preset's own values, for "default: fast X, standard Y" (no audit caps them here).
const fast = robustnessPlan('fast', {}, Number.MAX_SAFE_INTEGER);
const standard = robustnessPlan('standard', {}, Number.MAX_SAFE_INTEGER);
const perPreset = (f: string | number, s: string | number): string => (String(f) === String(s) ? String(f) : `fast ${f}, standard ${s}`);

/** Names of the options that parseAuditOptions takes, as commander's camelCase keys. */
const MEASUREMENT_KEYS = ['samples', 'batch', 'preprocess', 'mean', 'std', 'scale', 'layout', 'ep', 'cifar10Dir'] as const;
const ROBUSTNESS_KEYS = [
  'robustness', 'norm', 'eps', 'seed', 'attackSamples', 'attacks', 'apgdIterations', 'apgdRestarts', 'apgdTargets', 'fabIterations', 'fabTargets', 'pgdSteps', 'pgdRestarts', 'pgdStepSize', 'squareQueries',
] as const;
const GATE_KEYS = ['maxAmRel', 'minRobustAccuracy'] as const;
const AUDIT_KEYS = [...MEASUREMENT_KEYS, ...ROBUSTNESS_KEYS, ...GATE_KEYS];

function option(flags: string, description: string, group: string): Option {
  return new Option(flags, description).helpGroup(group);
}

/**
 * Options of a measurement on the CIFAR-10 test images (audit, compare, early-stop).
 * `samplesDefault` is the command's own default, where it differs from the audit's.
 */
export function addMeasurementOptions(cmd: Command, samplesDefault: number = d.samples): Command {
  const g = 'Measurement:';
  return cmd
    .addOption(option('--samples <N>', `the first N CIFAR-10 test images, in the official order (default: ${samplesDefault})`, g))
    .addOption(option('--batch <B>', `images per inference call; a model with a fixed batch size uses its own (default: ${d.batch})`, g))
    .addOption(
      option('--preprocess <P>', `${PREPROCESS_CHOICES.join(' | ')}; auto keeps the preset with the best clean accuracy (default: ${d.preprocess})`, g),
    )
    .addOption(option('--mean <a,b,c>', 'explicit per-channel mean, in the units of --scale (with --std)', g))
    .addOption(option('--std <a,b,c>', 'explicit per-channel standard deviation (with --mean)', g))
    .addOption(option('--scale <1|255>', `pixel scale the model expects: [0,1] or [0,255] (default: ${d.scale})`, g))
    .addOption(option('--layout <L>', `${LAYOUT_CHOICES.join(' | ')}; auto reads it from the input shape (default: ${d.layout})`, g))
    .addOption(option('--ep <E>', `${EXECUTION_PROVIDERS.join(' | ')}; auto takes a GPU when one starts, else the CPU (default: ${d.ep})`, g))
    .addOption(option('--cifar10-dir <DIR>', 'a folder with the official CIFAR-10 binary batches (default: env CIFAR10_DIR, else the download cache)', g));
}

/** The attack options of `audit`. */
export function addRobustnessOptions(cmd: Command): Command {
  const g = 'Robustness (adversarial attacks):';
  return cmd
    .addOption(
      option(
        '--robustness <R>',
        `${ROBUSTNESS_CHOICES.join(' | ')}; fast: ${fast.attacks.join('+')} on ${fast.samples} images, standard: ${standard.attacks.join('+')} on ${standard.samples} (default: ${d.robustness})`,
        g,
      ),
    )
    .addOption(option('--norm <N>', `${NORM_CHOICES.join(' | ')}: the ball every attack works in (default: ${fast.norm})`, g))
    .addOption(option('--eps <E>', `the ball's radius in [0,1] pixels, a number or a fraction; ${DEFAULT_EPS.l2.text} under l2 unless given (default: ${DEFAULT_EPS.linf.text})`, g))
    .addOption(option('--seed <S>', `seed of the attacks' randomness (default: ${fast.seed})`, g))
    .addOption(option('--attack-samples <N>', `attack the first N images (default: ${perPreset(fast.samples, standard.samples)})`, g))
    .addOption(
      option('--attacks <LIST>', `any of ${ATTACK_NAMES.join(',')}, run in that order, each on the images the earlier ones left (default: ${perPreset(fast.attacks.join(','), standard.attacks.join(','))})`, g),
    )
    .addOption(option('--apgd-iterations <N>', `APGD-CE and APGD-T iterations per run (default: ${perPreset(fast.apgd.iterations, standard.apgd.iterations)})`, g))
    .addOption(option('--apgd-restarts <N>', `APGD runs per image, and per target for APGD-T (default: ${perPreset(fast.apgd.restarts, standard.apgd.restarts)})`, g))
    .addOption(option('--fab-iterations <N>', `FAB-T iterations per target (default: ${perPreset(fast.fab.iterations, standard.fab.iterations)})`, g))
    .addOption(option('--fab-targets <N>', `FAB-T target classes, 1 to 9 (default: ${perPreset(fast.fab.targets, standard.fab.targets)})`, g))
    .addOption(option('--apgd-targets <N>', `APGD-T target classes, the highest-scoring wrong ones, 1 to 9 (default: ${perPreset(fast.apgd.targets, standard.apgd.targets)})`, g))
    .addOption(option('--pgd-steps <N>', `PGD iterations (default: ${perPreset(fast.pgd.steps, standard.pgd.steps)})`, g))
    .addOption(option('--pgd-restarts <N>', `PGD random restarts (default: ${perPreset(fast.pgd.restarts, standard.pgd.restarts)})`, g))
    .addOption(option('--pgd-step-size <X>', 'PGD step size, a number or a fraction (default: eps/4)', g))
    .addOption(option('--square-queries <N>', `Square Attack queries per image (default: ${perPreset(fast.square.queries, standard.square.queries)})`, g));
}

/** The CI gates of `audit`: exit 1 when one fails. */
export function addGateOptions(cmd: Command): Command {
  const g = 'CI gates (exit 1 when one fails):';
  return cmd
    .addOption(option('--max-am-rel <X>', "fail when any downsampling op's amRel exceeds X", g))
    .addOption(option('--min-robust-accuracy <X>', 'fail when the worst-case robust accuracy is below X (needs --robustness)', g))
    .addOption(option('--max-am-rel-increase <X>', 'fail when the amRel of any op or stage exceeds the baseline\'s by more than X (absolute; needs a baseline)', g))
    .addOption(option('--max-accuracy-drop <X>', 'fail when clean accuracy is more than X below the baseline\'s (a fraction, e.g. 0.02; needs a baseline)', g))
    .addOption(
      option('--max-robust-accuracy-drop <X>', 'fail when robust accuracy is more than X below the baseline\'s (a fraction; needs a baseline and --robustness)', g),
    );
}

/** The baseline to compare with (`audit`): a report of an earlier run, or a model audited alongside. */
export function addBaselineOptions(cmd: Command): Command {
  const g = 'Baseline (compare with an earlier model):';
  return cmd
    .addOption(option('--baseline <REPORT.json>', 'a JSON report of an earlier audit (--out) to compare with; adds `baseline` to the report', g).conflicts('baselineModel'))
    .addOption(option('--baseline-model <BASE.onnx>', 'audit this model too, on the same images with the same options, and compare with it', g))
    .addOption(option('--allow-option-mismatch', 'compare even when the samples or options of the baseline differ (else exit 2)', g));
}

/** The baseline gates' values among commander's parsed values, as text for parseBaselineGates. */
export function rawBaselineGates(values: Record<string, unknown>): RawOptions {
  const raw: RawOptions = {};
  for (const key of BASELINE_GATE_KEYS) if (typeof values[key] === 'string') raw[key] = values[key];
  return raw;
}

/**
 * The audit options among commander's parsed values, as text for parseAuditOptions; options
 * the command does not have stay out, so parseAuditOptions applies its defaults.
 */
export function rawAuditOptions(values: Record<string, unknown>): RawOptions {
  const raw: RawOptions = {};
  for (const key of AUDIT_KEYS) if (typeof values[key] === 'string') raw[key] = values[key];
  return raw;
}
