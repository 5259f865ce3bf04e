import { execFile } from 'node:child_process';

/** Runs a program to its end (at most `timeoutMs`): exit code and stdout+stderr, never a rejection. */
export function runFile(file: string, args: string[], timeoutMs = 120_000): Promise<{ code: number; out: string }> {
  return new Promise((done) => {
    execFile(file, args, { timeout: timeoutMs }, (err, stdout, stderr) =>
      done({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` }));
  });
}
