/** Patroni's DCS key layout (reference §1.1–1.2). Paths are absolute etcd keys. */
export interface ClusterKeys {
  prefix: string; // `/service/pgcluster/` (always ends in `/`)
  initialize: string;
  config: string;
  leader: string;
  membersPrefix: string;
  member(name: string): string;
  status: string;
  optimeLeader: string;
  failover: string;
  sync: string;
  history: string;
  failsafe: string;
  /** pgha's switchover drain (model/drain.ts): routers register under here; Patroni ignores these keys. */
  routersPrefix: string;
  router(id: string): string;
  drain: string;
}

export function clusterKeys(namespace: string, scope: string): ClusterKeys {
  const base = `/${namespace}/${scope}`.replace(/\/+/g, '/').replace(/\/$/, '');
  const prefix = `${base}/`;
  return {
    prefix,
    initialize: `${prefix}initialize`,
    config: `${prefix}config`,
    leader: `${prefix}leader`,
    membersPrefix: `${prefix}members/`,
    member: (name) => `${prefix}members/${name}`,
    status: `${prefix}status`,
    optimeLeader: `${prefix}optime/leader`,
    failover: `${prefix}failover`,
    sync: `${prefix}sync`,
    history: `${prefix}history`,
    failsafe: `${prefix}failsafe`,
    routersPrefix: `${prefix}routers/`,
    router: (id) => `${prefix}routers/${id}`,
    drain: `${prefix}drain`,
  };
}

/** Patroni's slot_name_from_member_name (reference §2.4). */
export function slotNameFromMemberName(name: string): string {
  let out = '';
  for (const ch of name.toLowerCase().replace(/[-.]/g, '_')) {
    out += /[a-z0-9_]/.test(ch) ? ch : `u${String(ch.codePointAt(0)).padStart(4, '0')}`;
  }
  return out.slice(0, 63);
}
