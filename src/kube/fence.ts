import { AsyncLocalStorage } from "node:async_hooks";
import type { ClientRequest } from "node:http";

/**
 * Fencing of the writer by leadership. The daemon hands the sink an AbortSignal that ends with
 * leadership; the sink runs its pass inside `fenced(signal, ...)`, and every API request made
 * in that pass, however deep (retries, ServiceAccount patches, garbage collection), asks
 * `requestSignal()` first: it refuses once leadership is gone and aborts requests in flight.
 * Carried by AsyncLocalStorage so no writer needs the signal threaded through each call.
 */
const current = new AsyncLocalStorage<AbortSignal>();
const checks = new WeakMap<AbortSignal, () => void>();

/** The reason a fenced request was refused or aborted. Never retried. */
export class LeadershipLost extends Error {
  override name = "LeadershipLost";
  constructor(message = "not the leader any more: write not sent") {
    super(message);
  }
}

/**
 * Registers a synchronous check run before every fenced request; it may abort the signal (the
 * elector's own deadline check does, so a process resumed after a freeze stops before its
 * first write rather than at its first timer).
 */
export function guardSignal(signal: AbortSignal, check: () => void): AbortSignal {
  checks.set(signal, check);
  return signal;
}

/** Runs fn with every API request it makes fenced by signal. */
export function fenced<T>(signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
  return signal ? current.run(signal, fn) : fn();
}

/**
 * For a request about to be sent: throws LeadershipLost when the fence is down, else the signal
 * to attach (undefined outside a fenced pass).
 */
export function requestSignal(): AbortSignal | undefined {
  const signal = current.getStore();
  if (!signal) return undefined;
  checks.get(signal)?.();
  if (signal.aborted) throw new LeadershipLost();
  return signal;
}

/** Whether the current pass's fence is down (its failures are not worth retrying). */
export function fenceDown(): boolean {
  return current.getStore()?.aborted === true;
}

/**
 * One request's signal: aborted by its timeout (a TimeoutError), the fence, or `also` (the
 * caller's); `done()` lets go of the timer and the listeners as soon as the request ends. A
 * fan-out of 10,000 writes otherwise left 10,000 timers and signals alive for the whole timeout.
 */
export function requestDeadline(ms: number, also?: AbortSignal): { signal: AbortSignal; done: () => void } {
  const fence = requestSignal();
  const controller = new AbortController();
  const sources = [fence, also].filter((s): s is AbortSignal => s !== undefined);
  const onAbort = (event: Event) => controller.abort((event.target as AbortSignal).reason);
  const timer = setTimeout(
    () => controller.abort(new DOMException(`no answer in ${ms} ms`, "TimeoutError")),
    ms,
  );
  const done = () => {
    clearTimeout(timer);
    for (const s of sources) s.removeEventListener("abort", onAbort);
  };
  for (const s of sources) {
    if (s.aborted) controller.abort(s.reason);
    else s.addEventListener("abort", onAbort, { once: true });
  }
  if (controller.signal.aborted) done();
  else controller.signal.addEventListener("abort", done, { once: true });
  return { signal: controller.signal, done };
}

/**
 * The fence checked again at the moment a request gets its socket, just before Node writes it.
 * requestSignal() runs when a request is made, but a request can then wait for a connection (a
 * handshake, a busy pool); a process frozen in that gap would send it on resume, before any
 * timer could abort it. Node emits 'socket' and flushes the request in the same tick, so a
 * request destroyed here never reaches the wire.
 */
export function fenceAtSocket(req: ClientRequest): void {
  const signal = current.getStore();
  if (!signal) return;
  req.once("socket", () => {
    checks.get(signal)?.();
    if (signal.aborted) req.destroy(new LeadershipLost());
  });
}
