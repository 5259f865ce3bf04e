/**
 * `pgha ctl`: the composition root of the operator's tool (patronictl's verbs, src/ctl/*). Reads argv, the
 * environment and the terminal, builds a CtlSession (etcd store, REST client, prompts), runs the verb, and maps
 * refusals to `Error: <message>` with exit code 1 (usage errors: 2).
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { readConfigPath } from '../config/document';
import { EtcdStore } from '../dcs/etcd/etcd-store';
import { clusterKeys } from '../model/keys';
import { PghaError } from '../lib/errors';
import {
  type CtlArgs, UsageError, boolOpt, leaderOpt, listOpt, parseCtlArgs, roleOpt, stringOpt, watchSeconds,
} from '../ctl/args';
import { ctlSettings, type CtlSettings } from '../ctl/settings';
import { httpRestClient } from '../ctl/rest-client';
import { streamPrompter, type Prompter } from '../ctl/prompt';
import { CtlError, type CtlIo, type CtlSession } from '../ctl/session';
import { runHistory, runList, runVersion } from '../ctl/info';
import { tableFormat } from '../ctl/history';
import type { ListFormat } from '../ctl/list';
import { runFailover } from '../ctl/switchover';
import { runFlush, runReinit, runReload, runRestart } from '../ctl/restart';
import { togglePause } from '../ctl/pause';
import { editConfig, showConfig } from '../ctl/config-edit';
import { runRemove } from '../ctl/remove';
import { queryFormat, runDsn, runQuery } from '../ctl/query';
import { pgConnector } from '../ctl/query-sql';
import { PGHA_VERSION } from './version';

const HELP = `Usage: pgha ctl [-c FILE] [-d etcd3://HOST:PORT[/namespace]] [-k] VERB [ARGS]

Operates a pgha (or Patroni) cluster through etcd and the members' REST APIs, with patronictl's verbs and flags.
The configuration file is the agent's YAML or a patronictl.yaml (scope, namespace, etcd3, ctl, restapi.authentication);
without -c: PATRONICTL_CONFIG_FILE, PGHA_CTL_CONFIG, then ~/.config/patroni/patronictl.yaml. CLUSTER defaults to
the file's scope where patronictl has it optional.

Global options:
  -c, --config-file FILE   configuration file
  -d, --dcs-url URL        etcd3://HOST:PORT[,HOST:PORT][/namespace] (replaces the file's etcd section)
  -k, --insecure           do not check the REST API's TLS certificate

Verbs:
  list [CLUSTER...] [-f pretty|tsv|json|yaml] [--json] [-e] [-t] [-W | -w SECONDS]
        members with host, role, state, timeline and lag; -W refreshes every 2 s, -w every N s
        (in place on a terminal)
  topology [CLUSTER...] [-W | -w SECONDS]
        list in replication-tree order
  switchover [CLUSTER] [--leader|--primary|--master NAME] [--candidate NAME] [--scheduled TIME|now] [--force]
        planned switchover: POST /switchover to the leader's API
  failover [CLUSTER] --candidate NAME [--force]
        manual failover (works without a leader): POST /failover
  restart CLUSTER [MEMBER...] [-r ROLE] [--any] [--scheduled TIME] [--pg-version V] [--pending] [--timeout S] [--force]
        restart PostgreSQL on members (ROLE: leader, primary, standby-leader, replica, standby, any);
        shows each member's progress while it restarts
  reinit CLUSTER MEMBER... [--force] [--wait]
        rebuild replicas from the leader: POST /reinitialize; --wait shows the copy's percent and rate
        until PostgreSQL runs again
  reload CLUSTER [MEMBER...] [-r ROLE] [--force]
        reload the members' configuration: POST /reload
  flush CLUSTER [MEMBER...] restart|switchover [-r ROLE] [--force]
        discard scheduled restarts or the scheduled switchover
  pause [CLUSTER] [--wait]     stop automatic failover (maintenance mode): PATCH /config {"pause": true}
  resume [CLUSTER] [--wait]    resume automatic failover
  edit-config [CLUSTER] [-s KEY.PATH=VALUE]... [-p GUC=VALUE]... [--apply FILE|-] [--replace FILE|-] [-q] [--force]
        change the dynamic configuration (the config key, compare-and-swap); no flags: edit in $EDITOR
  show-config [CLUSTER]        print the dynamic configuration as YAML
  history [CLUSTER] [-f pretty|tsv|json|yaml]
        timeline history: switchovers and failovers
  remove CLUSTER [-f FORMAT]   delete the cluster's keys from etcd (asks for the name and "Yes I am aware")
  version [CLUSTER [MEMBER...]]
        this tool's version, and each member's Patroni/PostgreSQL version
  query [CLUSTER] (-c SQL | -f FILE) [-r ROLE | -m MEMBER] [-U USER] [--password] [-d DBNAME]
        [--format tsv|pretty|json|yaml] [--delimiter D] [-W | -w SECONDS]
        run SQL on the leader (or a member by role or name) and print the result (tsv by default)
  dsn [CLUSTER] [-r ROLE | -m MEMBER]
        host=... port=... of the leader (or a member by role or name)

Confirmations read from the terminal; --force skips them. Without a terminal and without --force, a verb that
would ask fails with a message instead of waiting.
`;

/** Verbs whose CLUSTER argument is required (patronictl): the first positional is the cluster. */
const CLUSTER_REQUIRED = new Set(['restart', 'reinit', 'reload', 'remove', 'flush']);

/** One verb's part of HELP (its usage line and description), with the global options: `pgha ctl VERB --help`. */
export function verbHelp(verb: string): string | undefined {
  const lines = HELP.split('\n');
  const start = lines.findIndex((l) => l.startsWith(`  ${verb} `) || l === `  ${verb}`);
  if (start < 0) return undefined;
  // A short verb has its description on the same line, after a run of spaces.
  const [usage, inline] = lines[start]!.trim().split(/\s{3,}/, 2);
  const about = inline ? [inline] : [];
  for (let i = start + 1; i < lines.length && lines[i]!.startsWith('        '); i++) about.push(lines[i]!.trim());
  const globals = lines.slice(lines.indexOf('Global options:'), lines.indexOf('Verbs:') - 1);
  return `Usage: pgha ctl [GLOBAL OPTIONS] ${usage}\n${about.map((l) => `  ${l}`).join('\n')}\n\n${globals.join('\n')}\n`;
}

/** `pgha ctl [GLOBAL OPTIONS] help [VERB]`: the index of `help` when it stands where the verb goes. */
function helpVerbAt(argv: readonly string[]): number {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (/^(-c|-d|--config-file|--dcs-url|--dcs)$/.test(a)) i++;
    else if (!a.startsWith('-')) return a === 'help' ? i : -1;
  }
  return -1;
}

export async function runCtlCommand(argv: string[]): Promise<number> {
  // `pgha ctl help [VERB]`, as `pgha ctl [VERB] --help`.
  const helpAt = helpVerbAt(argv);
  if (helpAt >= 0) {
    const verb = argv[helpAt + 1];
    process.stdout.write((verb && verbHelp(verb)) || HELP);
    return 0;
  }
  let args: CtlArgs;
  try {
    args = parseCtlArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`pgha ctl: ${err.message}\n\n${HELP}`);
    return 2;
  }
  if (args.help || !args.verb) {
    process.stdout.write((args.verb && verbHelp(args.verb)) || HELP);
    return args.help ? 0 : 2;
  }
  const prompter = streamPrompter(process.stdin, process.stdout, process.stdin.isTTY === true);
  const stores: EtcdStore[] = [];
  try {
    return await dispatch(args, prompter, stores);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`pgha ctl: ${err.message}\n`);
      return 2;
    }
    if (err instanceof PghaError) {
      process.stderr.write(`Error: ${err.message}\n`);
      return 1;
    }
    throw err;
  } finally {
    prompter.close();
    await Promise.all(stores.map((s) => s.close().catch(() => undefined)));
  }
}

async function dispatch(args: CtlArgs, prompter: Prompter, stores: EtcdStore[]): Promise<number> {
  const verb = args.verb!;
  const pos = args.positionals;
  const io = terminalIo(prompter);
  const settings = loadSettings(args, verb === 'version' && pos.length === 0);
  const session = (cluster: string | undefined): CtlSession => {
    const scope = cluster ?? settings.scope;
    if (!scope) throw new CtlError('no cluster name: give CLUSTER, or a configuration file with scope (-c FILE)');
    if (!settings.etcd) throw new CtlError('no etcd to talk to: give -c FILE (with an etcd3 section) or -d etcd3://HOST:PORT');
    const e = settings.etcd;
    const store = new EtcdStore({
      hosts: e.hosts, protocol: e.protocol, deadlineMs: 10_000,
      ...(e.username !== undefined ? { username: e.username } : {}),
      ...(e.password !== undefined ? { password: e.password } : {}),
      ...(e.cacert ? { cacert: e.cacert } : {}), ...(e.cert ? { cert: e.cert } : {}), ...(e.key ? { key: e.key } : {}),
    });
    stores.push(store);
    const rest = httpRestClient({ ...settings.rest, userAgent: `pgha-ctl/${PGHA_VERSION} Node.js/${process.versions.node}`, timeoutMs: 30_000 });
    return { scope, store, keys: clusterKeys(settings.namespace, scope), rest, io };
  };
  const requireCluster = (): string => {
    const c = pos[0];
    if (!c) throw new UsageError(`${verb}: CLUSTER is required (patronictl ${verb} CLUSTER [MEMBER...])`);
    return c;
  };
  const force = boolOpt(args, 'force');
  if (CLUSTER_REQUIRED.has(verb)) requireCluster();

  switch (verb) {
    case 'list':
    case 'topology': {
      const format: ListFormat = verb === 'topology' ? 'topology' : boolOpt(args, 'json') ? 'json' : listFormat(stringOpt(args, 'format'));
      const clusters = (pos.length ? pos : [undefined]).map((c) => session(c));
      return runList({
        clusters, format, extended: boolOpt(args, 'extended'), timestamps: boolOpt(args, 'timestamp'),
        refreshSeconds: watchSeconds(args), clear: process.stdout.isTTY === true,
      });
    }
    case 'switchover':
    case 'failover': {
      const leader = leaderOpt(args);
      const candidate = stringOpt(args, 'candidate');
      const scheduled = stringOpt(args, 'scheduled');
      return runFailover(session(pos[0]), verb, {
        force, ...(leader !== undefined ? { leader } : {}), ...(candidate !== undefined ? { candidate } : {}),
        ...(scheduled !== undefined ? { scheduled } : {}),
      });
    }
    case 'restart': {
      const scheduled = stringOpt(args, 'scheduled');
      const pgVersion = stringOpt(args, 'pg-version');
      const timeout = stringOpt(args, 'timeout');
      return runRestart(session(pos[0]), {
        members: pos.slice(1), role: roleOpt(args, 'any'), any: boolOpt(args, 'any'), pending: boolOpt(args, 'pending'), force,
        ...(scheduled !== undefined ? { scheduled } : {}), ...(pgVersion !== undefined ? { pgVersion } : {}),
        ...(timeout !== undefined ? { timeout } : {}),
      });
    }
    case 'reinit':
      return runReinit(session(pos[0]), { members: pos.slice(1), force, wait: boolOpt(args, 'wait') });
    case 'reload':
      return runReload(session(pos[0]), { members: pos.slice(1), role: roleOpt(args, 'any'), force });
    case 'flush': {
      const target = pos[pos.length - 1];
      if (pos.length < 2 || (target !== 'restart' && target !== 'switchover')) throw new UsageError('flush: expected CLUSTER [MEMBER...] restart|switchover');
      return runFlush(session(pos[0]), { members: pos.slice(1, -1), target, role: roleOpt(args, 'any'), force });
    }
    case 'pause':
    case 'resume':
      return togglePause(session(pos[0]), verb === 'pause', boolOpt(args, 'wait'));
    case 'edit-config': {
      const apply = stringOpt(args, 'apply');
      const replace = stringOpt(args, 'replace');
      return editConfig(session(pos[0]), {
        quiet: boolOpt(args, 'quiet'), set: listOpt(args, 'set'), pg: listOpt(args, 'pg'), force,
        ...(apply !== undefined ? { apply } : {}), ...(replace !== undefined ? { replace } : {}),
      });
    }
    case 'show-config':
      return showConfig(session(pos[0]));
    case 'history':
      return runHistory(session(pos[0]), tableFormat(stringOpt(args, 'format')));
    case 'remove':
      return runRemove(session(pos[0]), tableFormat(stringOpt(args, 'format')));
    case 'dsn': {
      const member = stringOpt(args, 'member');
      return runDsn(session(pos[0]), { ...(args.values.role !== undefined ? { role: roleOpt(args, 'any') } : {}), ...(member !== undefined ? { member } : {}) });
    }
    case 'query': {
      const member = stringOpt(args, 'member');
      const command = stringOpt(args, 'command');
      const file = stringOpt(args, 'file');
      const username = stringOpt(args, 'username');
      const dbname = stringOpt(args, 'dbname');
      const fileText = file === undefined ? undefined : file === '-' ? await io.readStdin() : readSqlFile(file);
      return runQuery(session(pos[0]), {
        ...(args.values.role !== undefined ? { role: roleOpt(args, 'any') } : {}), ...(member !== undefined ? { member } : {}),
        ...(command !== undefined ? { command } : {}), ...(fileText !== undefined ? { fileText } : {}),
        ...(username !== undefined ? { username } : {}), ...(dbname !== undefined ? { dbname } : {}),
        format: queryFormat(stringOpt(args, 'format')), delimiter: stringOpt(args, 'delimiter') ?? '\t',
        askPassword: boolOpt(args, 'password'), refreshSeconds: watchSeconds(args),
      }, pgConnector);
    }
    case 'version':
      return runVersion(PGHA_VERSION, io.out, pos.length ? session(pos[0]) : undefined, pos.slice(1));
    default:
      throw new UsageError(`unknown verb '${verb}'`);
  }
}

function listFormat(value: string | undefined): ListFormat {
  const f = value ?? 'pretty';
  if (f === 'yml') return 'yaml';
  if (f === 'pretty' || f === 'json' || f === 'tsv' || f === 'yaml') return f;
  throw new UsageError(`-f ${f}: expected pretty, json, tsv or yaml`);
}

/** click.File: an unreadable file is a usage error naming it. */
function readSqlFile(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`Invalid value for '--file' / '-f': '${file}': ${(err as Error).message}`);
  }
}

/** -c, then PATRONICTL_CONFIG_FILE / PGHA_CTL_CONFIG, then ~/.config/patroni/patronictl.yaml when it exists. */
function loadSettings(args: CtlArgs, optional: boolean): CtlSettings {
  const explicit = args.configFile ?? process.env.PATRONICTL_CONFIG_FILE ?? process.env.PGHA_CTL_CONFIG;
  const fallback = join(process.env.HOME ?? homedir(), '.config', 'patroni', 'patronictl.yaml');
  const file = explicit ?? (existsSync(fallback) ? fallback : undefined);
  const dcsUrl = args.dcsUrl ?? process.env.DCS_URL;
  try {
    const doc = file ? readConfigPath(file) : {};
    return ctlSettings(doc, process.env, { ...(dcsUrl ? { dcsUrl } : {}), insecure: args.insecure });
  } catch (err) {
    if (optional) return { namespace: '/service', rest: {} };
    throw err;
  }
}

function terminalIo(prompter: Prompter): CtlIo {
  return {
    out: (line) => process.stdout.write(`${line}\n`),
    write: (text) => process.stdout.write(text),
    warn: (line) => process.stderr.write(`${line}\n`),
    stdoutIsTty: process.stdout.isTTY === true,
    ...(process.stdout.columns ? { columns: process.stdout.columns } : {}),
    prompter,
    now: () => new Date(),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    ...(editorCommand() ? { editor: editorCommand()! } : {}),
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },
  };
}

/** $EDITOR, else `editor` or `vi` on PATH (patronictl's fallback). */
function editorCommand(): string | undefined {
  if (process.env.EDITOR) return process.env.EDITOR;
  for (const name of ['editor', 'vi']) {
    for (const dir of (process.env.PATH ?? '').split(':')) {
      if (dir && existsSync(join(dir, name))) return join(dir, name);
    }
  }
  return undefined;
}
