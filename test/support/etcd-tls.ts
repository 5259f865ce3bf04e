/** A throwaway CA with a server certificate for 127.0.0.1 and a client certificate, for etcd TLS tests. */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { removeDir, tempDir } from './tmp';

export interface TestCerts {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  remove(): void;
}

export function makeTestCerts(): TestCerts {
  const dir = tempDir('etcd-tls');
  const p = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=pgha test CA', '-keyout', p('ca.key'), '-out', p('ca.crt'));
  const issue = (name: string, subject: string, ext: string) => {
    writeFileSync(p(`${name}.ext`), ext);
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', subject, '-keyout', p(`${name}.key`), '-out', p(`${name}.csr`));
    openssl('x509', '-req', '-in', p(`${name}.csr`), '-CA', p('ca.crt'), '-CAkey', p('ca.key'), '-CAcreateserial', '-days', '2', '-extfile', p(`${name}.ext`), '-out', p(`${name}.crt`));
  };
  issue('server', '/CN=127.0.0.1', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n');
  issue('client', '/CN=root', 'extendedKeyUsage=clientAuth\n');
  return {
    dir,
    ca: p('ca.crt'),
    serverCert: p('server.crt'),
    serverKey: p('server.key'),
    clientCert: p('client.crt'),
    clientKey: p('client.key'),
    remove: () => removeDir(dir),
  };
}
