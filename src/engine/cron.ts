import cron from "node-cron";

/** Starts calling fn on a cron schedule; returns a stop function. Injected so tests can drive it. */
export type CronStarter = (expression: string, fn: () => void) => () => void;

export const nodeCron: CronStarter = (expression, fn) => {
  const task = cron.schedule(expression, fn, { noOverlap: true });
  return () => void task.destroy();
};
