/**
 * The process-wide sanitizer. Every secret value is registered here the moment it exists
 * (read from a file, minted by a provider, rendered into an auth string) and every log line,
 * error text and /status body passes through redact() on its way out.
 */
const MASK = "**redacted**";
const secrets = new Set<string>();
let pattern: RegExp | null = null;

// Shorter values would mask ordinary words; no real credential is this short.
const MIN_LENGTH = 4;

function add(value: string): void {
  if (value.length < MIN_LENGTH || secrets.has(value)) return;
  secrets.add(value);
  pattern = null;
}

export function registerSecret(value: string): void {
  add(value);
  // The forms in which a value can leave the process: JSON-escaped in a log line, and base64
  // as in a Secret's data or a docker `auth` field.
  add(JSON.stringify(value).slice(1, -1));
  add(Buffer.from(value).toString("base64"));
}

/** Registers the docker `auth` string for a username/password pair. */
export function registerAuth(username: string, password: string): string {
  registerSecret(password);
  const auth = Buffer.from(`${username}:${password}`).toString("base64");
  add(auth);
  return auth;
}

function compiled(): RegExp | null {
  if (secrets.size === 0) return null;
  if (!pattern) {
    // Longest first, so a secret that contains another is masked whole.
    const alternatives = [...secrets]
      .sort((a, b) => b.length - a.length)
      .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
    pattern = new RegExp(alternatives.join("|"), "g");
  }
  return pattern;
}

export function redact(text: string): string {
  const re = compiled();
  return re ? text.replace(re, MASK) : text;
}

/** For tests: forget every registered value. */
export function resetRedactor(): void {
  secrets.clear();
  pattern = null;
}
