/** The `pgha` command: one CLI for the agent, the router, ctl and the demo cluster. Commands load lazily. */
import { PGHA_VERSION } from './version';

const USAGE = `pgha ${PGHA_VERSION}: high availability for PostgreSQL (Patroni-compatible agent + HA-aware router)

Usage:
  pgha agent -c FILE        run the HA agent for one PostgreSQL node (Patroni YAML)
  pgha router -c FILE       run the router (or: pgha router --etcd H:P --scope S --write A:P --read A:P)
  pgha ctl VERB [...]       operate the cluster (list, ...); pgha ctl --help for the verbs
  pgha demo                 run a local cluster: etcd, three PostgreSQL nodes with agents, a router
  pgha version              print the version

Each command takes --help.
`;

export async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  let code = 0;
  try {
    switch (command) {
      case 'agent':
        code = await (await import('./agent-command')).runAgentCommand(rest);
        break;
      case 'router':
        code = await (await import('./router-command')).runRouterCommand(rest);
        break;
      case 'ctl':
        code = await (await import('./ctl-command')).runCtlCommand(rest);
        break;
      case 'fence':
        code = await (await import('./fence-command')).runFenceCommand(rest);
        break;
      case 'demo':
        code = await (await import('./demo-command')).runDemoCommand(rest);
        break;
      case 'version':
      case '--version':
        process.stdout.write(`pgha ${PGHA_VERSION}\n`);
        break;
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        process.stdout.write(USAGE);
        break;
      default:
        process.stderr.write(`pgha: unknown command '${command}'\n\n${USAGE}`);
        code = 2;
    }
  } catch (err) {
    process.stderr.write(`pgha: ${err instanceof Error ? err.message : String(err)}\n`);
    code = 1;
  }
  process.exitCode = code;
}
