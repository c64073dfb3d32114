import { parseArgs } from 'node:util';

/** Says what is wrong with the command line, above the usage, and exits 2. */
export function usageError(usage: string, problem: string): never {
  process.stderr.write(`${problem}\n\n${usage}\n`);
  process.exit(2);
}

/**
 * A bench's command line: whole-number options (`--rounds 5`, also taken by
 * position where a bench documents `[rounds]`), boolean flags and text
 * options. `--help` prints `usage`; an option it does not take, or a count
 * that is not a whole number (above 0 unless named in `zeroOk`), is one line
 * saying so above the usage and exit code 2, not a stack trace nor a NaN that
 * fails a minute later.
 */
export function benchArgs<C extends Record<string, number>, F extends string = never, S extends string = never>(
  usage: string,
  counts: C,
  opts: { flags?: readonly F[]; strings?: readonly S[]; positional?: readonly (keyof C & string)[]; zeroOk?: readonly (keyof C & string)[]; argv?: string[] } = {},
): { [K in keyof C]: number } & { [K in F]: boolean } & { [K in S]: string | undefined } {
  const options = {
    help: { type: 'boolean' as const, short: 'h' },
    ...Object.fromEntries([...Object.keys(counts), ...(opts.strings ?? [])].map((k) => [k, { type: 'string' as const }])),
    ...Object.fromEntries((opts.flags ?? []).map((f) => [f, { type: 'boolean' as const }])),
  };
  let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] } = { values: {}, positionals: [] };
  try {
    parsed = parseArgs({ args: opts.argv ?? process.argv.slice(2), options, allowPositionals: true, strict: true });
  } catch (err) {
    usageError(usage, (err as Error).message);
  }
  if (parsed.values.help) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  const positional = opts.positional ?? [];
  if (parsed.positionals.length > positional.length) usageError(usage, `unexpected argument "${parsed.positionals[positional.length]}"`);
  const out: Record<string, number | boolean | string | undefined> = {};
  for (const [name, fallback] of Object.entries(counts)) {
    const at = positional.indexOf(name);
    const text = (parsed.values[name] as string | undefined) ?? (at >= 0 ? parsed.positionals[at] : undefined);
    const least = opts.zeroOk?.includes(name) ? 0 : 1;
    if (text !== undefined && !(/^\d+$/.test(text) && Number(text) >= least)) usageError(usage, `--${name} must be a whole number of at least ${least}, not "${text}"`);
    out[name] = text === undefined ? fallback : Number(text);
  }
  for (const f of opts.flags ?? []) out[f] = parsed.values[f] === true;
  for (const k of opts.strings ?? []) out[k] = parsed.values[k] as string | undefined;
  return out as { [K in keyof C]: number } & { [K in F]: boolean } & { [K in S]: string | undefined };
}
