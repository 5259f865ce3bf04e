/**
 * `pgha ctl` command lines, with patronictl 3.0.2's verbs and flags (reference §8.2). Global options
 * (`-c/--config-file`, `-d/--dcs-url/--dcs`, `-k/--insecure`) come before the verb, as in patronictl, and are also
 * accepted after it. Pure: the CLI passes argv in.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;

const GLOBAL: Options = {
  config: { type: 'string', short: 'c' },
  'config-file': { type: 'string' },
  'dcs-url': { type: 'string', short: 'd' },
  dcs: { type: 'string' },
  insecure: { type: 'boolean', short: 'k' },
  help: { type: 'boolean', short: 'h' },
};
const GLOBAL_WITH_VALUE = new Set(['-c', '--config', '--config-file', '-d', '--dcs-url', '--dcs']);

const force: Options = { force: { type: 'boolean' } };
const leader: Options = { leader: { type: 'string' }, primary: { type: 'string' }, master: { type: 'string' } };
const watch: Options = { W: { type: 'boolean', short: 'W' }, watch: { type: 'string', short: 'w' } };
const role: Options = { role: { type: 'string', short: 'r' } };
const format: Options = { format: { type: 'string', short: 'f' } };

export const VERB_OPTIONS: Record<string, Options> = {
  list: { ...format, json: { type: 'boolean' }, extended: { type: 'boolean', short: 'e' }, timestamp: { type: 'boolean', short: 't' }, ...watch },
  topology: { ...watch },
  switchover: { ...leader, candidate: { type: 'string' }, scheduled: { type: 'string' }, ...force },
  failover: { ...leader, candidate: { type: 'string' }, ...force },
  restart: {
    ...role, any: { type: 'boolean' }, scheduled: { type: 'string' }, 'pg-version': { type: 'string' },
    pending: { type: 'boolean' }, timeout: { type: 'string' }, ...force,
  },
  reinit: { ...force, wait: { type: 'boolean' } },
  reload: { ...role, ...force },
  pause: { wait: { type: 'boolean' } },
  resume: { wait: { type: 'boolean' } },
  'edit-config': {
    quiet: { type: 'boolean', short: 'q' }, set: { type: 'string', short: 's', multiple: true },
    pg: { type: 'string', short: 'p', multiple: true }, apply: { type: 'string' }, replace: { type: 'string' }, ...force,
  },
  'show-config': {},
  history: { ...format },
  remove: { ...format },
  flush: { ...role, ...force },
  version: {},
  // patronictl 3.0.2: `--format` has no short form here (-f is --file), -c is --command, -d is --dbname, -W watches.
  query: {
    format: { type: 'string' }, file: { type: 'string', short: 'f' }, password: { type: 'boolean' },
    username: { type: 'string', short: 'U' }, ...watch, ...role, member: { type: 'string', short: 'm' },
    delimiter: { type: 'string' }, command: { type: 'string', short: 'c' }, dbname: { type: 'string', short: 'd' },
  },
  dsn: { ...role, member: { type: 'string', short: 'm' } },
};

export type OptionValue = string | boolean | string[] | undefined;

export interface CtlArgs {
  verb?: string;
  configFile?: string;
  dcsUrl?: string;
  insecure: boolean;
  help: boolean;
  values: Record<string, OptionValue>;
  positionals: string[];
}

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function parseCtlArgs(argv: readonly string[]): CtlArgs {
  const at = verbIndex(argv);
  const verb = at >= 0 ? argv[at] : undefined;
  if (verb !== undefined && !(verb in VERB_OPTIONS)) throw new UsageError(`unknown verb '${verb}'`);
  let parsed: { values: Record<string, OptionValue>; positionals: string[] };
  try {
    parsed = verb && clashesWithGlobal(VERB_OPTIONS[verb]!) ? parseApart(argv, at, VERB_OPTIONS[verb]!) : parseArgs({
      args: at >= 0 ? [...argv.slice(0, at), ...argv.slice(at + 1)] : [...argv],
      options: { ...GLOBAL, ...(verb ? VERB_OPTIONS[verb] : {}) },
      allowPositionals: true,
      strict: true,
    }) as { values: Record<string, OptionValue>; positionals: string[] };
  } catch (err) {
    throw new UsageError(`${verb ?? 'ctl'}: ${(err as Error).message.split('\n')[0]}`);
  }
  const v = parsed.values;
  const str = (k: string) => (typeof v[k] === 'string' ? (v[k] as string) : undefined);
  const out: CtlArgs = {
    insecure: v.insecure === true,
    help: v.help === true,
    values: v,
    positionals: parsed.positionals,
  };
  if (verb) out.verb = verb;
  const configFile = str('config') ?? str('config-file');
  const dcsUrl = str('dcs-url') ?? str('dcs');
  if (configFile) out.configFile = configFile;
  if (dcsUrl) out.dcsUrl = dcsUrl;
  return out;
}

const GLOBAL_SHORTS = new Set(Object.values(GLOBAL).flatMap((o) => (o.short ? [o.short] : [])));

function clashesWithGlobal(options: Options): boolean {
  return Object.values(options).some((o) => o.short !== undefined && GLOBAL_SHORTS.has(o.short));
}

/**
 * A verb whose short options reuse a global letter (query: -c command, -d dbname), as click scopes options: before
 * the verb the global ones, after it the verb's (global options keep their long names there).
 */
function parseApart(argv: readonly string[], at: number, verbOptions: Options): { values: Record<string, OptionValue>; positionals: string[] } {
  const verbShorts = new Set(Object.values(verbOptions).flatMap((o) => (o.short ? [o.short] : [])));
  const globalsAfter: Options = {};
  for (const [name, o] of Object.entries(GLOBAL)) {
    globalsAfter[name] = o.short && verbShorts.has(o.short) ? { type: o.type } as Options[string] : o;
  }
  const before = parseArgs({ args: [...argv.slice(0, at)], options: GLOBAL, allowPositionals: false, strict: true });
  const after = parseArgs({ args: [...argv.slice(at + 1)], options: { ...globalsAfter, ...verbOptions }, allowPositionals: true, strict: true });
  return { values: { ...before.values, ...after.values } as Record<string, OptionValue>, positionals: after.positionals };
}

/** The first token that is neither an option nor the value of a global option. */
function verbIndex(argv: readonly string[]): number {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') return i + 1 < argv.length ? i + 1 : -1;
    if (a.startsWith('-')) {
      if (GLOBAL_WITH_VALUE.has(a)) i++;
      continue;
    }
    return i;
  }
  return -1;
}

export function stringOpt(a: CtlArgs, key: string): string | undefined {
  const v = a.values[key];
  return typeof v === 'string' ? v : undefined;
}

export function boolOpt(a: CtlArgs, key: string): boolean {
  return a.values[key] === true;
}

export function listOpt(a: CtlArgs, key: string): string[] {
  const v = a.values[key];
  return Array.isArray(v) ? v : [];
}

/** `--leader`, `--primary` and `--master` name the same thing. */
export function leaderOpt(a: CtlArgs): string | undefined {
  return stringOpt(a, 'leader') ?? stringOpt(a, 'primary') ?? stringOpt(a, 'master');
}

/** `-W` (every 2 s) or `-w SECONDS`; 0 = once. */
export function watchSeconds(a: CtlArgs): number {
  const w = stringOpt(a, 'watch');
  if (w !== undefined) {
    const n = Number(w);
    if (!Number.isFinite(n) || n <= 0) throw new UsageError(`-w ${w}: expected a number of seconds above 0`);
    return n;
  }
  return boolOpt(a, 'W') ? 2 : 0;
}

export const ROLES = ['leader', 'primary', 'standby-leader', 'replica', 'standby', 'any', 'master'] as const;
export type MemberRole = (typeof ROLES)[number];

export function roleOpt(a: CtlArgs, fallback: MemberRole): MemberRole {
  const r = stringOpt(a, 'role');
  if (r === undefined) return fallback;
  if (!(ROLES as readonly string[]).includes(r)) {
    throw new UsageError(`--role ${r}: expected one of ${ROLES.join(', ')}`);
  }
  return r as MemberRole;
}
