import { randomBytes } from "node:crypto";
import type { EventsV1Event, KubeConfig } from "@kubernetes/client-node";
import { KubeApi, microTime } from "./api.ts";
import type { Logger } from "pino";
import { redact } from "../base/redact.ts";
import { messageOf, statusOf } from "./client.ts";

export interface ObjectRef {
  kind: string;
  namespace?: string;
  name: string;
  uid?: string;
  apiVersion?: string;
}

export interface EventRecorderOptions {
  kc: KubeConfig;
  /** Names the reporting controller: `regcred.io/<component>`. */
  component: string;
  /** This replica (pod name): the Event's reportingInstance, at most 128 characters. */
  instance: string;
  log: Logger;
  now?: () => number;
  /** At most one Event per (object, reason) in this window. Default 5 minutes. */
  perKeyIntervalMs?: number;
  /** Events that may be posted at once across all objects. Default 25. */
  burst?: number;
  /** Rate at which that budget refills. Default 0.5 per second. */
  refillPerSecond?: number;
}

export type EventType = "Normal" | "Warning";

// events.k8s.io validation limits (k8s.io/kubernetes pkg/apis/core/validation/events.go).
const NOTE_MAX_BYTES = 1024;
const FIELD_MAX = 128;

/**
 * Posts events.k8s.io/v1 Events about the objects regcred manages, fire-and-forget: an Event
 * is informative, so a failure to post is logged, never thrown, and never blocks the caller.
 *
 * Repeats are folded by the per-(object, reason) window: the first occurrence is posted, the
 * next ones within the window are counted, and the first Event after the window carries the
 * latest message plus "(N similar events suppressed)". The Event `series` field was not used:
 * on update the API server keeps an Event's note immutable (ValidateEventUpdate), so a series
 * would freeze the first message while the key (object, reason) covers changing messages
 * (a different upstream error each time); a series also needs the live Event's name, and a
 * PATCH that 404s once the Event's TTL (1 h by default) has passed.
 */
export class EventRecorder {
  private readonly api: KubeApi;
  private readonly opts: EventRecorderOptions;
  private readonly controller: string;
  private readonly instance: string;
  private readonly limiter: EventRateLimiter;
  private readonly inflight = new Set<Promise<void>>();

  constructor(opts: EventRecorderOptions) {
    this.opts = opts;
    this.controller = `regcred.io/${opts.component}`;
    this.instance = opts.instance.slice(0, FIELD_MAX);
    this.api = new KubeApi(opts.kc, 10_000);
    this.limiter = new EventRateLimiter({
      perKeyIntervalMs: opts.perKeyIntervalMs ?? 5 * 60_000,
      burst: opts.burst ?? 25,
      refillPerSecond: opts.refillPerSecond ?? 0.5,
      now: opts.now,
    });
  }

  warning(regarding: ObjectRef, reason: string, message: string, action?: string): void {
    this.record("Warning", regarding, reason, message, action);
  }

  normal(regarding: ObjectRef, reason: string, message: string, action?: string): void {
    this.record("Normal", regarding, reason, message, action);
  }

  /** Resolves when every post started so far has finished (for shutdown and tests). */
  async flush(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  private record(
    type: EventType,
    regarding: ObjectRef,
    reason: string,
    message: string,
    action?: string,
  ): void {
    try {
      const key = JSON.stringify([regarding.kind, regarding.namespace ?? "", regarding.name, reason]);
      const admission = this.limiter.admit(key);
      if (!admission.emit) {
        this.opts.log.debug(
          { kind: regarding.kind, name: regarding.name, reason, why: admission.why },
          "event suppressed",
        );
        return;
      }
      const body = this.build(type, regarding, reason, message, action ?? reason, admission.suppressed);
      const p = this.post(body).finally(() => this.inflight.delete(p));
      this.inflight.add(p);
    } catch (err) {
      this.opts.log.warn({ err }, "could not record event");
    }
  }

  private build(
    type: EventType,
    regarding: ObjectRef,
    reason: string,
    message: string,
    action: string,
    suppressed: number,
  ): EventsV1Event {
    // The API server only accepts Events about cluster-scoped objects in "default" or
    // "kube-system" (legacyValidateEvent), whatever namespace regcred runs in.
    const namespace = regarding.namespace || "default";
    const suffix =
      suppressed > 0 ? ` (${suppressed} similar event${suppressed === 1 ? "" : "s"} suppressed)` : "";
    // Redact before truncating: cutting first could leave a secret's prefix the redactor no
    // longer recognises.
    const note = truncateBytes(redact(message), NOTE_MAX_BYTES - Buffer.byteLength(suffix)) + suffix;
    return {
      apiVersion: "events.k8s.io/v1",
      kind: "Event",
      metadata: { name: eventName(regarding.name), namespace },
      // A string on the wire, where the generated type says Date.
      eventTime: microTime(this.opts.now?.() ?? Date.now()) as unknown as Date,
      type,
      reason: reason.slice(0, FIELD_MAX),
      action: action.slice(0, FIELD_MAX),
      note,
      reportingController: this.controller,
      reportingInstance: this.instance,
      regarding: {
        kind: regarding.kind,
        name: regarding.name,
        ...(regarding.namespace ? { namespace: regarding.namespace } : {}),
        ...(regarding.uid ? { uid: regarding.uid } : {}),
        ...(regarding.apiVersion ? { apiVersion: regarding.apiVersion } : {}),
      },
    };
  }

  private async post(body: EventsV1Event): Promise<void> {
    const namespace = body.metadata!.namespace!;
    try {
      await this.api.createEvent(namespace, body);
    } catch (err) {
      const status = statusOf(err);
      const fields = { namespace, reason: body.reason, status };
      // Missing RBAC is the operator's to fix; a terminating namespace or a hiccup is not.
      if (status === 401 || status === 403)
        this.opts.log.warn(fields, `could not post event: ${messageOf(err)}`);
      else this.opts.log.debug(fields, `could not post event: ${messageOf(err)}`);
    }
  }
}

/** `<object name>.<hex time><random>`, like client-go's, kept a valid DNS subdomain. */
function eventName(objectName: string): string {
  const base =
    objectName
      .toLowerCase()
      .replace(/[^a-z0-9.-]/g, "-")
      .slice(0, 200)
      .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, "") || "object";
  return `${base}.${(Date.now() * 1000).toString(16)}${randomBytes(3).toString("hex")}`;
}

function truncateBytes(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  const ellipsis = "...";
  let out = Buffer.from(text)
    .subarray(0, Math.max(0, maxBytes - ellipsis.length))
    .toString("utf8");
  // A multi-byte character cut in half decodes as U+FFFD; drop it.
  out = out.replace(/\uFFFD$/, "");
  return out + ellipsis;
}

export type Admission = { emit: true; suppressed: number } | { emit: false; why: "repeat" | "budget" };

export interface RateLimitOptions {
  perKeyIntervalMs: number;
  burst: number;
  refillPerSecond: number;
  now?: (() => number) | undefined;
}

interface KeyState {
  /** When the last Event for this key was posted (-Infinity: never, only dropped). */
  postedAt: number;
  /** Occurrences not posted since then. */
  suppressed: number;
  lastSeen: number;
}

/**
 * Pure decision logic (no I/O, injected clock): at most one Event per key per window, and a
 * global token bucket so a failure that touches every namespace cannot flood the API server.
 * An occurrence dropped by the bucket is counted like a repeat, so its count is not lost.
 */
export class EventRateLimiter {
  private readonly opts: RateLimitOptions;
  private readonly now: () => number;
  private readonly keys = new Map<string, KeyState>();
  private tokens: number;
  private refilledAt: number;
  private prunedAt: number;

  constructor(opts: RateLimitOptions) {
    if (opts.burst < 1) throw new Error("burst must be at least 1");
    this.opts = opts;
    this.now = opts.now ?? (() => Date.now());
    this.tokens = opts.burst;
    this.refilledAt = this.now();
    this.prunedAt = this.refilledAt;
  }

  admit(key: string): Admission {
    const now = this.now();
    this.prune(now);
    const state = this.keys.get(key);
    if (state && now - state.postedAt < this.opts.perKeyIntervalMs) {
      state.suppressed++;
      state.lastSeen = now;
      return { emit: false, why: "repeat" };
    }
    if (!this.takeToken(now)) {
      if (state) {
        state.suppressed++;
        state.lastSeen = now;
      } else {
        this.keys.set(key, { postedAt: -Infinity, suppressed: 1, lastSeen: now });
      }
      return { emit: false, why: "budget" };
    }
    const suppressed = state?.suppressed ?? 0;
    this.keys.set(key, { postedAt: now, suppressed: 0, lastSeen: now });
    return { emit: true, suppressed };
  }

  /** Keys currently remembered (for tests of the memory bound). */
  get size(): number {
    return this.keys.size;
  }

  private takeToken(now: number): boolean {
    const elapsed = Math.max(0, now - this.refilledAt);
    this.tokens = Math.min(this.opts.burst, this.tokens + (elapsed / 1000) * this.opts.refillPerSecond);
    this.refilledAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /**
   * Once per window: forget keys whose window is over with nothing counted (same as absent),
   * and counts nobody has repeated for a long time (bounded memory across thousands of objects).
   */
  private prune(now: number): void {
    const interval = this.opts.perKeyIntervalMs;
    if (now - this.prunedAt < interval) return;
    this.prunedAt = now;
    for (const [key, s] of this.keys) {
      const windowOver = now - s.postedAt >= interval;
      if ((windowOver && s.suppressed === 0) || now - s.lastSeen >= 12 * interval) this.keys.delete(key);
    }
  }
}
