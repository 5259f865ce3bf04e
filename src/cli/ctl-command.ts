import { parseArgs } from 'node:util';
import { loadAgentConfig } from '../config/load';
import { EtcdStore } from '../dcs/etcd/etcd-store';
import { readCluster } from '../dcs/read';
import { clusterKeys } from '../model/keys';
import { renderList } from '../ctl/list';

const HELP = `Usage: pgha ctl [-c FILE] [-d etcd3://HOST:PORT[/namespace]] VERB [ARGS]

Operates a pgha (or Patroni) cluster through etcd and the agents' REST APIs, like patronictl.
The configuration file is the agent's YAML (scope, namespace, etcd3/etcd); PGHA_CTL_CONFIG or
PATRONICTL_CONFIG_FILE name it when -c is absent.

Verbs:
  list [CLUSTER] [-f pretty|json|tsv] [--json] [-e] [-W | -w SECONDS]
                      members with host, role, state, timeline and lag (as patronictl list)
  version             print the version
`;

interface Target {
  store: EtcdStore;
  scope: string;
  namespace: string;
}

function target(configFile: string | undefined, dcsUrl: string | undefined, clusterArg: string | undefined): Target {
  const file = configFile ?? process.env.PGHA_CTL_CONFIG ?? process.env.PATRONICTL_CONFIG_FILE;
  let hosts: string[] = [];
  let scope = clusterArg;
  let namespace = '/service';
  if (file) {
    const cfg = loadAgentConfig(file, process.env, { requireBinDir: false });
    hosts = cfg.etcd.hosts.map((h) => `${h.host}:${h.port}`);
    scope ??= cfg.scope;
    namespace = cfg.namespace;
  }
  if (dcsUrl) {
    const m = /^(?:etcd3?:\/\/)?([^/]+)(\/.*)?$/.exec(dcsUrl);
    if (!m) throw new Error(`--dcs-url ${dcsUrl}: expected etcd3://HOST:PORT[/namespace]`);
    hosts = m[1]!.split(',');
    if (m[2] && m[2] !== '/') namespace = m[2];
  }
  if (!hosts.length) throw new Error('no etcd to talk to: give -c FILE (the agent YAML) or -d etcd3://HOST:PORT');
  if (!scope) throw new Error('no cluster name: give CLUSTER or a config file with scope');
  return { store: new EtcdStore({ hosts, deadlineMs: 10_000 }), scope, namespace };
}

export async function runCtlCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string', short: 'c' },
      'config-file': { type: 'string' },
      'dcs-url': { type: 'string', short: 'd' },
      dcs: { type: 'string' },
      format: { type: 'string', short: 'f' },
      json: { type: 'boolean' },
      extended: { type: 'boolean', short: 'e' },
      watch: { type: 'string', short: 'w' },
      W: { type: 'boolean', short: 'W' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
  });
  const [verb, ...args] = positionals;
  if (values.help || !verb) {
    process.stdout.write(HELP);
    return values.help ? 0 : 2;
  }
  if (verb === 'version') {
    process.stdout.write(`pgha ctl ${(await import('./version')).PGHA_VERSION}\n`);
    return 0;
  }
  if (verb !== 'list') {
    process.stderr.write(`pgha ctl: unknown verb '${verb}'\n\n${HELP}`);
    return 2;
  }
  const t = target(values.config ?? values['config-file'], values['dcs-url'] ?? values.dcs, args[0]);
  const format = values.json ? 'json' : ((values.format ?? 'pretty') as 'pretty' | 'json' | 'tsv');
  if (!['pretty', 'json', 'tsv'].includes(format)) throw new Error(`-f ${format}: expected pretty, json or tsv`);
  const keys = clusterKeys(t.namespace, t.scope);
  const refreshSeconds = values.W ? 2 : values.watch ? Number(values.watch) : 0;
  try {
    for (;;) {
      const view = await readCluster(t.store, keys);
      const text = renderList(view, t.scope, { format, extended: values.extended ?? false });
      if (refreshSeconds > 0 && process.stdout.isTTY) process.stdout.write('\x1b[H\x1b[2J');
      process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
      if (!refreshSeconds) return 0;
      await new Promise((r) => setTimeout(r, refreshSeconds * 1000));
    }
  } finally {
    await t.store.close();
  }
}
