import { AsyncLocalStorage } from "node:async_hooks";

/**
 * The process-wide sanitizer. Every secret value is registered here the moment it exists
 * (read from a file, minted by a provider, rendered into an auth string) and every log line,
 * error text and /status body passes through redact() on its way out.
 *
 * A minted value belongs to the credential it came with: the refresher runs each mint in a
 * RedactionScope and releases the scope once that credential is superseded, so a daemon that
 * refreshes for months holds only the values still in use. Values registered outside any
 * scope (configured secrets, read at start) stay for the life of the process.
 */
const MASK = "**redacted**";

// Shorter values would mask ordinary words; no real credential is this short.
const MIN_LENGTH = 4;

/** Holders per value: a count of live scopes, or Infinity once registered outside a scope. */
const holders = new Map<string, number>();

/**
 * Values by the hash of a window of their characters, found by a rolling hash over the text:
 * redact() does one Map lookup per position of the text, so its cost follows the text's length
 * and not the number of values (a single alternation regex over every value had to be rebuilt
 * after each registration and grew with each). The window sits in the middle of a value,
 * because the head is shared (JWT headers, ECR's `eyJwYXlsb2FkIjoi`) and the tail of base64
 * padding is nearly so; the middle is where tokens are random. Values shorter than WIDE use a
 * narrow window at their start.
 */
const WIDE = 8;
const wide = new Map<number, string[]>();
const narrow = new Map<number, string[]>();
const BASE = 31;
const windowOf = (value: string) =>
  value.length >= WIDE
    ? { map: wide, width: WIDE, offset: (value.length - WIDE) >> 1 }
    : { map: narrow, width: MIN_LENGTH, offset: 0 };

function hashAt(text: string, from: number, width: number): number {
  let h = 0;
  for (let k = 0; k < width; k++) h = (Math.imul(h, BASE) + text.charCodeAt(from + k)) | 0;
  return h;
}

const currentScope = new AsyncLocalStorage<RedactionScope>();

function index(value: string): void {
  const { map, width, offset } = windowOf(value);
  const h = hashAt(value, offset, width);
  const bucket = map.get(h);
  if (bucket) bucket.push(value);
  else map.set(h, [value]);
}

function unindex(value: string): void {
  const { map, width, offset } = windowOf(value);
  const h = hashAt(value, offset, width);
  const rest = (map.get(h) ?? []).filter((v) => v !== value);
  if (rest.length === 0) map.delete(h);
  else map.set(h, rest);
}

/** Every [start, end) where a value of `map` occurs in the text. */
function scan(text: string, map: Map<number, string[]>, width: number, found: Array<[number, number]>) {
  if (map.size === 0 || text.length < width) return;
  // BASE^(width-1), to take the leaving character out of the rolling hash.
  let top = 1;
  for (let k = 1; k < width; k++) top = Math.imul(top, BASE);
  let h = hashAt(text, 0, width);
  for (let end = width; ; end++) {
    const bucket = map.get(h);
    if (bucket) {
      for (const v of bucket) {
        const start = end - width - windowOf(v).offset;
        if (start >= 0 && text.startsWith(v, start)) found.push([start, start + v.length]);
      }
    }
    if (end === text.length) return;
    h = (Math.imul(h - Math.imul(text.charCodeAt(end - width), top), BASE) + text.charCodeAt(end)) | 0;
  }
}

function hold(value: string, count: number): void {
  const now = holders.get(value) ?? 0;
  if (now === 0) index(value);
  holders.set(value, now + count);
}

function letGo(value: string): void {
  const left = (holders.get(value) ?? 0) - 1;
  if (left > 0) return void holders.set(value, left);
  holders.delete(value);
  unindex(value);
}

/**
 * The values registered while a piece of work runs (a mint and everything it awaits), kept
 * until release(). A value held by several scopes stays until the last of them lets go.
 */
export class RedactionScope {
  private readonly values = new Set<string>();
  private released = false;

  run<T>(fn: () => T): T {
    return currentScope.run(this, fn);
  }

  /** @internal */
  add(value: string): void {
    // A late registration after release (a callback that outlived its mint) must still be
    // masked; keeping it for good is the safe side of that rare case.
    if (this.released) return hold(value, Infinity);
    if (this.values.has(value)) return;
    this.values.add(value);
    hold(value, 1);
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    for (const value of this.values) letGo(value);
    this.values.clear();
  }
}

function add(value: string): void {
  if (value.length < MIN_LENGTH) return;
  const scope = currentScope.getStore();
  if (scope) return scope.add(value);
  if (holders.get(value) !== Infinity) hold(value, Infinity);
}

export function registerSecret(value: string): void {
  add(value);
  // The forms in which a value can leave the process: JSON-escaped in a log line, and base64
  // as in a Secret's data or a docker `auth` field.
  add(JSON.stringify(value).slice(1, -1));
  add(Buffer.from(value).toString("base64"));
}

/** The docker `auth` field for a username/password pair. */
export function authString(username: string, password: string): string {
  return Buffer.from(`${username}:${password}`).toString("base64");
}

/** Registers the docker `auth` string for a username/password pair. */
export function registerAuth(username: string, password: string): string {
  registerSecret(password);
  const auth = authString(username, password);
  add(auth);
  return auth;
}

export function redact(text: string): string {
  const found: Array<[number, number]> = [];
  scan(text, wide, WIDE, found);
  scan(text, narrow, MIN_LENGTH, found);
  if (found.length === 0) return text;
  // Leftmost first: a value that contains another, or two that overlap, are masked as one
  // span, so no part of either is left in the clear.
  found.sort((a, b) => a[0] - b[0]);
  let out = "";
  let copied = 0;
  for (const [start, end] of found) {
    if (start < copied) {
      copied = Math.max(copied, end);
      continue;
    }
    out += text.slice(copied, start) + MASK;
    copied = end;
  }
  return out + text.slice(copied);
}

/** How many distinct values are masked now (for tests and the benchmark). */
export function registeredValues(): number {
  return holders.size;
}

/** For tests: forget every registered value. */
export function resetRedactor(): void {
  holders.clear();
  wide.clear();
  narrow.clear();
}
