/**
 * Confirmation prompts as click prints them (`Question [y/N]: `, `Question [default]: `). Answers come from a
 * terminal. When stdin is not a terminal, a prompt fails at once with a message naming the flag that skips it
 * (rather than waiting on a pipe nobody writes to); only prompts that say `piped: true` (remove's typed
 * confirmations) read answers from a pipe, and fail at end of input.
 */
import { createInterface, type Interface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { CtlError } from './session';

export interface AskOptions {
  /** Shown in brackets and returned for an empty answer. */
  default?: string;
  /** What to do instead when there is no terminal (e.g. "use --force"). */
  hint?: string;
  /** Read the answer from stdin even when it is a pipe. */
  piped?: boolean;
}

export interface Prompter {
  readonly interactive: boolean;
  ask(question: string, opts?: AskOptions): Promise<string>;
  /** click.confirm: `[y/N]`; anything but y/yes is no. */
  confirm(question: string, opts?: { hint?: string }): Promise<boolean>;
  close(): void;
}

export function streamPrompter(input: Readable, output: Writable, interactive: boolean): Prompter {
  let rl: Interface | undefined;
  const lines: string[] = [];
  const waiters: ((line: string | undefined) => void)[] = [];
  let ended = false;
  const open = (): void => {
    if (rl) return;
    rl = createInterface({ input, terminal: false });
    rl.on('line', (line) => {
      const w = waiters.shift();
      if (w) w(line);
      else lines.push(line);
    });
    rl.on('close', () => {
      ended = true;
      for (const w of waiters.splice(0)) w(undefined);
    });
  };
  const nextLine = (): Promise<string | undefined> => {
    open();
    const queued = lines.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (ended) return Promise.resolve(undefined);
    return new Promise((resolve) => waiters.push(resolve));
  };
  const refuse = (question: string, hint?: string): never => {
    throw new CtlError(`cannot ask "${question.trim()}": stdin is not a terminal${hint ? `; ${hint}` : ''}`);
  };
  const prompter: Prompter = {
    interactive,
    async ask(question, opts = {}) {
      if (!interactive && !opts.piped) refuse(question, opts.hint);
      const suffix = opts.default !== undefined ? ` [${opts.default}]: ` : ': ';
      for (;;) {
        output.write(`${question}${suffix}`);
        const line = await nextLine();
        if (line === undefined) throw new CtlError(`no answer to "${question.trim()}": end of input`);
        if (!interactive) output.write('\n');
        const answer = line.trim();
        if (answer !== '') return answer;
        if (opts.default !== undefined) return opts.default;
      }
    },
    async confirm(question, opts = {}) {
      if (!interactive) refuse(question, opts.hint ?? 'use --force to skip the confirmation');
      output.write(`${question} [y/N]: `);
      const line = await nextLine();
      if (line === undefined) throw new CtlError(`no answer to "${question.trim()}": end of input`);
      return /^(y|yes)$/i.test(line.trim());
    },
    close() {
      rl?.close();
    },
  };
  return prompter;
}
