/** Continuation-passing helpers: simulated processes run step after step, each step finishing as an event. */
export type Next = (err?: Error) => void;
export type Step = (next: Next) => void;

/** Runs steps in order; the first error skips the rest. */
export function series(steps: readonly Step[], done: Next): void {
  const run = (i: number): void => {
    const step = steps[i];
    if (!step) return done();
    step((err) => (err ? done(err) : run(i + 1)));
  };
  run(0);
}

/** A step that may throw synchronously (configuration errors) turned into a failing step. */
export function guard(fn: () => void): Step {
  return (next) => {
    try {
      fn();
    } catch (err) {
      return next(err instanceof Error ? err : new Error(String(err)));
    }
    next();
  };
}
