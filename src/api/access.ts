/**
 * Who may call the REST API's write endpoints, and the extra headers of every answer (Patroni 3.0.2 api.py
 * `RestApiServer.check_access`, `reload_config`, `_write_response`):
 * - with `allowlist` or `allowlist_include_members` set, a write request (POST/PUT/PATCH/DELETE) from an address
 *   outside the list is answered `403 Access is denied`, before the client-certificate and password checks. GET,
 *   HEAD and OPTIONS (health checks, status) are never filtered, as in Patroni.
 * - allowlist host names are resolved when the settings are loaded (start, reload); the members' REST addresses
 *   come from the cluster view the agent already holds, resolved per request (Patroni reads its cached cluster too).
 * - `http_extra_headers` go on every answer with headers; `https_extra_headers` are added when serving HTTPS.
 *   Patroni's bare status-line answers (HEAD, OPTIONS, /liveness, /readiness) carry none, here neither.
 * An IPv4 client seen on a dual-stack socket (`::ffff:10.0.0.5`) is checked as 10.0.0.5: Python's ip_address does
 * not unmap it, so Patroni refuses such a client even when 10.0.0.5 is listed.
 */
import { BlockList, isIP } from 'node:net';
import { lookup } from 'node:dns/promises';
import type { Logger } from '../log/logger';
import { parseAllowEntry } from '../config/restapi-access';

export interface AccessSettings {
  allowlist?: string[];
  allowlistIncludeMembers?: boolean;
  httpExtraHeaders?: Record<string, string>;
  httpsExtraHeaders?: Record<string, string>;
}

/** Resolves a host name to its addresses (injectable for tests). */
export type Resolve = (host: string) => Promise<string[]>;

const systemResolve: Resolve = async (host) => (await lookup(host, { all: true })).map((a) => a.address);

export class RestAccess {
  private list: BlockList | undefined;
  private includeMembers = false;
  private extraHeaders: Record<string, string> = {};

  constructor(
    private readonly https: boolean,
    private readonly log: Logger,
    private readonly resolve: Resolve = systemResolve,
  ) {}

  /** Loads (or reloads) the settings; host names that do not resolve are logged and skipped, as in Patroni. */
  async update(s: AccessSettings): Promise<void> {
    let list: BlockList | undefined;
    if (s.allowlist?.length) {
      list = new BlockList();
      for (const [i, entry] of s.allowlist.entries()) {
        const parsed = parseAllowEntry(entry, `restapi.allowlist[${i}]`);
        if (parsed.kind === 'network') list.addSubnet(parsed.address, parsed.prefix, parsed.family);
        else for (const ip of await this.addresses(parsed.name)) addAddress(list, ip);
      }
    }
    this.list = list;
    this.includeMembers = s.allowlistIncludeMembers === true;
    this.extraHeaders = { ...(s.httpExtraHeaders ?? {}), ...(this.https ? s.httpsExtraHeaders ?? {} : {}) };
  }

  headers(): Record<string, string> {
    return this.extraHeaders;
  }

  /** True when the write request from `remote` may proceed; `memberApiUrls` is read only when members count. */
  async allows(remote: string | undefined, memberApiUrls: () => string[]): Promise<boolean> {
    if (!this.list && !this.includeMembers) return true;
    const ip = unmap(remote ?? '');
    if (isIP(ip) === 0) return false;
    if (this.list && checkAddress(this.list, ip)) return true;
    if (!this.includeMembers) return false;
    const hosts = memberApiUrls().flatMap((url) => hostOf(url) ?? []);
    // Addresses first: a member published by name costs a lookup per request (as in Patroni), so only when needed.
    if (hosts.some((h) => isIP(h) !== 0 && unmap(h) === ip)) return true;
    for (const host of hosts.filter((h) => isIP(h) === 0)) {
      if ((await this.addresses(host)).some((a) => unmap(a) === ip)) return true;
    }
    return false;
  }

  private async addresses(host: string): Promise<string[]> {
    try {
      return await this.resolve(host);
    } catch (err) {
      this.log.error({ host, err }, 'failed to resolve an allowlist host name');
      return [];
    }
  }
}

function unmap(address: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return m ? m[1]! : address;
}

function addAddress(list: BlockList, ip: string): void {
  const plain = unmap(ip);
  list.addAddress(plain, isIP(plain) === 6 ? 'ipv6' : 'ipv4');
}

function checkAddress(list: BlockList, ip: string): boolean {
  return list.check(ip, isIP(ip) === 6 ? 'ipv6' : 'ipv4');
}

function hostOf(apiUrl: string): string | undefined {
  try {
    const host = new URL(apiUrl).hostname;
    return host.replace(/^\[(.*)\]$/, '$1') || undefined;
  } catch {
    return undefined;
  }
}
