import { execFile, spawn } from 'node:child_process';

/** Runs a program to its end (at most `timeoutMs`): exit code and stdout+stderr, never a rejection. */
export function runFile(file: string, args: string[], timeoutMs = 120_000): Promise<{ code: number; out: string }> {
  return new Promise((done) => {
    execFile(file, args, { timeout: timeoutMs }, (err, stdout, stderr) =>
      done({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` }));
  });
}

export interface RunResult {
  code: number;
  out: string;
  err: string;
}

/** Runs a command with stdin a pipe (not a terminal) holding `input`, then closed; stdout and stderr apart. */
export function runCommand(file: string, args: string[], o: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'], ...(o.env ? { env: o.env } : {}) });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 240_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, out, err });
    });
    child.stdin.end(o.input ?? '');
  });
}
